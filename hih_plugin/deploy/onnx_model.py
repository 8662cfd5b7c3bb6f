"""Exported ``.onnx`` files: their metadata, and running them.

An export carries, in its ``metadata_props``, what running it on an image
needs besides the graph: the config's name, the input size, the dataset's
MMPose metainfo (keypoints, skeleton, colours), the test pipeline that cuts
the crops, the data preprocessor that normalises them, and the visualizer.
:class:`OnnxPoseModel` refuses a file whose metadata is missing, does not
match its graph (another input size, another keypoint count), or was edited
after export (a SHA-256 of the graph and the metadata).
"""
import hashlib
import json
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from ..errors import UserError

FORMAT = 'hih-plugin-onnx/1'
PREFIX = 'hih_plugin.'
# Metadata entries besides the format and the digest; all but config and
# decoding hold JSON.
KEYS = ('config', 'decoding', 'input_size', 'dataset_info', 'pipeline',
        'data_preprocessor', 'visualizer')
REEXPORT = 're-export it with tools/deploy/export_onnx.py'


def _jsonable(value):
    """Config values (ConfigDict, tuples) as plain JSON types."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise UserError(f'cannot store {value!r} ({type(value).__name__}) in '
                    'the ONNX metadata: the config must hold plain values '
                    'there')


def dataset_info(cfg) -> dict:
    """The test dataset's raw MMPose metainfo (``dataset_info`` of
    ``configs/_base_/datasets/*.py``), resolved as MMPose resolves it."""
    from mmengine.config import Config
    from mmpose.registry import DATASETS
    ds = cfg.test_dataloader.dataset
    metainfo = ds.get('metainfo') or getattr(DATASETS.get(ds.type),
                                             'METAINFO', None)
    if not metainfo:
        raise UserError('the config names no dataset metainfo for its test '
                        'dataset; set test_dataloader.dataset.metainfo')
    if 'from_file' not in metainfo:
        return _jsonable(metainfo)
    path = metainfo['from_file']
    if not osp.isfile(path):  # MMPose's fallback to its packaged configs
        import mmpose
        path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs',
                        '_base_', 'datasets', osp.basename(path))
    return _jsonable(Config.fromfile(path).dataset_info)


def _parse_dataset_info(info: dict) -> dict:
    """Parsed MMPose dataset_meta; JSON made the integer ids strings."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    info = dict(info)
    for key in ('keypoint_info', 'skeleton_info'):
        info[key] = {int(k): v for k, v in info[key].items()}
    return parse_pose_metainfo(info)


def build_metadata(cfg, config_path: str, input_size, decoding: str) -> dict:
    """The metadata entries of an export of ``cfg``."""
    entries = dict(
        config=osp.basename(config_path),
        decoding=decoding,
        input_size=list(input_size),
        dataset_info=dataset_info(cfg),
        pipeline=cfg.test_dataloader.dataset.pipeline,
        data_preprocessor=cfg.model.data_preprocessor,
        visualizer=cfg.get('visualizer') or dict(
            type='PoseLocalVisualizer', name='visualizer'))
    return {k: v if k in ('config', 'decoding') else json.dumps(_jsonable(v))
            for k, v in entries.items()}


def _digest(graph_bytes: bytes, metadata: dict) -> str:
    h = hashlib.sha256(graph_bytes)
    h.update(json.dumps(metadata, sort_keys=True).encode())
    return h.hexdigest()


def sign(proto, metadata: dict) -> None:
    """Set ``metadata`` (without prefix) and the digest on a ModelProto."""
    del proto.metadata_props[:]
    entries = dict(metadata, format=FORMAT)
    for key, value in sorted(entries.items()):
        prop = proto.metadata_props.add()
        prop.key, prop.value = PREFIX + key, value
    prop = proto.metadata_props.add()
    prop.key = PREFIX + 'sha256'
    prop.value = _digest(proto.graph.SerializeToString(), entries)


def _dims(value_info) -> list:
    """Shape of a graph input/output: ints, or names for dynamic axes."""
    return [d.dim_param or d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def crop_to_image(keypoints: np.ndarray, metainfo: dict) -> np.ndarray:
    """Crop pixels -> image pixels, as MMPose's ``TopdownPoseEstimator``
    (``add_pred_to_datasample``) maps its predictions."""
    size = np.asarray(metainfo['input_size'], dtype=np.float32)
    scale = np.asarray(metainfo['input_scale'], dtype=np.float32)
    center = np.asarray(metainfo['input_center'], dtype=np.float32)
    return keypoints / size * scale + center - 0.5 * scale


class OnnxPoseModel:
    """An exported model, checked and loaded in onnxruntime.

    Args:
        path (str): The ``.onnx`` file
        threads (int, optional): onnxruntime's intra-op threads; its
            default (all cores) when ``None``

    Attributes:
        metadata (dict): The metadata entries (JSON ones decoded)
        input_size (tuple): (w, h) of the crops
        batch_size (int | None): The fixed batch, or None if dynamic
        dataset_meta (dict): MMPose's parsed dataset metainfo
    """

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        import onnx
        import onnxruntime as ort
        from google.protobuf.message import DecodeError
        self.path = path
        if not osp.isfile(path):
            raise UserError(f'ONNX model not found: {path}')
        with open(path, 'rb') as f:
            raw = f.read()
        try:
            proto = onnx.load_from_string(raw)
        except (DecodeError, ValueError) as err:
            raise UserError(f'{path} is not an ONNX model ({err})')
        props = {p.key[len(PREFIX):]: p.value for p in proto.metadata_props
                 if p.key.startswith(PREFIX)}
        self.metadata = self._read_metadata(props)
        self._check_graph(proto)
        digest = props.pop('sha256', None)
        if digest != _digest(proto.graph.SerializeToString(), props):
            raise UserError(
                f'{path}: its weights or metadata were changed after export '
                f'(SHA-256 mismatch); {REEXPORT}')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                raw, options, providers=['CPUExecutionProvider'])
        except Exception as err:  # noqa: BLE001  ORT raises its own types
            raise UserError(f'onnxruntime cannot load {path}: '
                            f'{" ".join(str(err).split())}')

    def _read_metadata(self, props: dict) -> dict:
        path = self.path
        if 'format' not in props:
            raise UserError(
                f'{path} carries no hih-plugin metadata (config, input size, '
                f'dataset); it was not exported by this package: {REEXPORT}')
        if props['format'] != FORMAT:
            raise UserError(f'{path} has metadata format {props["format"]!r}'
                            f', this package reads {FORMAT!r}; {REEXPORT}')
        missing = [k for k in KEYS if k not in props]
        if missing:
            raise UserError(f'{path} lacks the metadata {", ".join(missing)}'
                            f'; {REEXPORT}')
        meta = {}
        for key in KEYS:
            try:
                meta[key] = (props[key] if key in ('config', 'decoding')
                             else json.loads(props[key]))
            except json.JSONDecodeError as err:
                raise UserError(f'{path}: metadata {key} is not valid JSON '
                                f'({err}); {REEXPORT}')
        try:
            self.dataset_meta = _parse_dataset_info(meta['dataset_info'])
            self.input_size = tuple(int(v) for v in meta['input_size'])
            assert len(self.input_size) == 2
        except (AssertionError, AttributeError, KeyError, TypeError,
                ValueError) as err:
            raise UserError(f'{path}: metadata dataset_info or input_size '
                            f'is malformed ({type(err).__name__}: {err}); '
                            f'{REEXPORT}')
        return meta

    def _check_graph(self, proto) -> None:
        """The graph's input and outputs against the metadata."""
        path = self.path
        weights = {t.name for t in proto.graph.initializer}
        inputs = [i for i in proto.graph.input if i.name not in weights]
        outputs = {o.name: _dims(o) for o in proto.graph.output}
        if len(inputs) != 1 or set(outputs) != {'keypoints', 'scores'}:
            raise UserError(
                f'{path} has inputs {[i.name for i in inputs]} and outputs '
                f'{sorted(outputs)}, not one crop input and keypoints and '
                f'scores; {REEXPORT}')
        self.input_name = inputs[0].name
        dims = _dims(inputs[0])
        w, h = self.input_size
        if len(dims) != 4 or dims[1:] != [3, h, w]:
            raise UserError(
                f'{path}: its graph takes input {dims} but its metadata says '
                f'{w}x{h} crops ([batch, 3, {h}, {w}]); {REEXPORT}')
        self.batch_size = dims[0] if isinstance(dims[0], int) else None
        num = self.dataset_meta['num_keypoints']
        if outputs['keypoints'][1:] != [num, 2] or \
                outputs['scores'][1:] != [num]:
            raise UserError(
                f'{path}: its graph outputs {outputs["keypoints"][1]} '
                f'keypoints but its metadata describes '
                f'{self.dataset_meta["dataset_name"]} with {num}; {REEXPORT}')
        affine = [t for t in self.metadata['pipeline']
                  if t.get('type') == 'TopdownAffine']
        if len(affine) != 1 or \
                tuple(affine[0].get('input_size', ())) != self.input_size:
            raise UserError(
                f'{path}: its pipeline has no TopdownAffine to {w}x{h} '
                f'crops; {REEXPORT}')

    def __call__(self, inputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, K, 2) in crop pixels and scores (B, K) of
        normalised crops (B, 3, h, w); a fixed-batch graph gets its batch
        in chunks, the last one padded."""
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        n = self.batch_size or len(inputs)
        keypoints, scores = [], []
        for start in range(0, len(inputs), n):
            chunk = inputs[start:start + n]
            pad = n - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, chunk[-1:].repeat(pad, 0)])
            k, s = self.session.run(['keypoints', 'scores'],
                                    {self.input_name: chunk})
            keypoints.append(k[:n - pad])
            scores.append(s[:n - pad])
        return np.concatenate(keypoints), np.concatenate(scores)

    def inference(self, img: np.ndarray, bboxes: Optional[np.ndarray] = None
                  ) -> List:
        """Top-down inference on a BGR image, as MMPose's
        ``inference_topdown``: one PoseDataSample per box (x1, y1, x2, y2;
        the whole image without boxes), keypoints in image pixels."""
        import torch
        from mmengine.dataset import Compose, pseudo_collate
        from mmengine.registry import init_default_scope
        from mmengine.structures import InstanceData
        from mmpose.registry import MODELS
        init_default_scope('mmpose')
        if bboxes is None or len(bboxes) == 0:
            h, w = img.shape[:2]
            bboxes = np.array([[0, 0, w, h]], dtype=np.float32)
        pipeline = Compose(self.metadata['pipeline'])
        data = [
            pipeline(dict(img=img, bbox=np.asarray(box, np.float32)[None],
                          bbox_score=np.ones(1, np.float32),
                          **self.dataset_meta)) for box in bboxes
        ]
        preprocessor = MODELS.build(self.metadata['data_preprocessor'])
        with torch.no_grad():
            batch = preprocessor(pseudo_collate(data), training=False)
        keypoints, scores = self(batch['inputs'].numpy())
        samples = batch['data_samples']
        for sample, k, s in zip(samples, keypoints, scores):
            sample.pred_instances = InstanceData(
                keypoints=crop_to_image(k[None], sample.metainfo),
                keypoint_scores=s[None], keypoints_visible=s[None],
                bboxes=sample.gt_instances.bboxes,
                bbox_scores=sample.gt_instances.bbox_scores)
        return samples
