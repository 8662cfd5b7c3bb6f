"""Exported ``.onnx`` files: reading them safely, and running them.

An export carries, besides the graph, plain values under a fixed schema
(:mod:`hih_plugin.deploy.metadata`): the crop size and padding, the
normalisation, the keypoints and their drawing. :class:`OnnxPoseModel` reads
a file only if it is a regular file of at most :data:`MAX_MODEL_BYTES`,
checks the metadata before anything uses it, checks it against the graph
(input size, keypoint count), then the integrity digest, and cuts and
normalises crops with code of its own (MMPose's ``GetBBoxCenterScale`` +
``TopdownAffine`` and ``PoseDataPreprocessor``, restated with their plain
bbox functions): nothing from the file reaches a registry, an import or a
Python file.
"""
import os
import stat
from typing import List, Optional, Tuple

import numpy as np

from ..errors import UserError
from .metadata import REEXPORT, check_digest, read_metadata

# protobuf's own limit for one message; the file is read whole
MAX_MODEL_BYTES = 2 << 30
# A fixed-batch graph runs that many crops whatever the boxes: bounded, so
# that a file cannot make every run take gigabytes
MAX_BATCH = 64
MAX_BATCH_PIXELS = 1 << 24


def read_model_file(path: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most
    :data:`MAX_MODEL_BYTES`; a FIFO, device or folder is refused without
    being read (opened non-blocking, checked with ``fstat``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f'ONNX model not found: {path}')
    except OSError as err:
        raise UserError(f'cannot open the ONNX model {path}: '
                        f'{err.strerror}')
    info = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = 'is a folder; pass the .onnx file'
    elif not stat.S_ISREG(info.st_mode):
        problem = ('is not a regular file (a FIFO, device or socket); pass '
                   'the .onnx file')
    elif info.st_size > MAX_MODEL_BYTES:
        problem = (f'has {info.st_size} bytes, more than the '
                   f'{MAX_MODEL_BYTES} an export can have')
    if problem:
        os.close(fd)
        raise UserError(f'ONNX model {path} {problem}')
    with os.fdopen(fd, 'rb') as f:
        raw = f.read(MAX_MODEL_BYTES + 1)
    if len(raw) > MAX_MODEL_BYTES:
        raise UserError(f'ONNX model {path} grew past {MAX_MODEL_BYTES} '
                        'bytes while it was read')
    return raw


def _tensors(graph):
    """Every tensor a graph holds, its subgraphs' included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField('t'):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField('g') else []) + \
                    list(attr.graphs):
                yield from _tensors(sub)


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


def dataset_meta(meta: dict) -> dict:
    """MMPose's parsed dataset metainfo (the keys its visualizer and
    ``parse_pose_metainfo`` give), built from checked plain values."""
    names = meta['keypoint_names']
    flip = meta['flip_indices']
    return dict(
        dataset_name=meta['dataset_name'],
        num_keypoints=len(names),
        keypoint_id2name=dict(enumerate(names)),
        keypoint_name2id={n: i for i, n in enumerate(names)},
        flip_indices=list(flip),
        flip_pairs=[[i, j] for i, j in enumerate(flip) if i < j],
        keypoint_colors=np.array(meta['keypoint_colors'], dtype=np.uint8),
        num_skeleton_links=len(meta['skeleton_links']),
        skeleton_links=[tuple(link) for link in meta['skeleton_links']],
        skeleton_link_colors=np.array(meta['link_colors'],
                                      dtype=np.uint8).reshape(-1, 3),
        sigmas=np.array(meta['sigmas'], dtype=np.float32))


def ort_errors() -> tuple:
    """The exceptions onnxruntime raises (Fail, InvalidGraph, ...) about
    a model or its input; not those of a bug in Python code."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    return tuple(v for v in vars(state).values() if isinstance(v, type)
                 and issubclass(v, Exception))


def ort_session(raw: bytes, where: str, threads: Optional[int] = None):
    """An onnxruntime CPU session of the serialised model ``raw``; its
    refusal as one line naming ``where``."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(raw, options,
                                    providers=['CPUExecutionProvider'])
    except ort_errors() as err:
        raise UserError(f'onnxruntime cannot load {where}: '
                        f'{" ".join(str(err).split())[:300]}')


def run_in_batches(session, input_name, inputs: np.ndarray,
                   batch_size: Optional[int], where: str,
                   names=None) -> list:
    """``session``'s outputs ``names`` (all by default) on ``inputs``, in
    chunks of a fixed-batch graph's batch (the last one padded); an error
    of onnxruntime's as a one-line UserError naming ``where``."""
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    n = batch_size or len(inputs)
    parts = []
    for start in range(0, len(inputs), n):
        chunk = inputs[start:start + n]
        pad = n - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, chunk[-1:].repeat(pad, 0)])
        try:
            outputs = session.run(names, {input_name: chunk})
        except ort_errors() as err:
            raise UserError(f'onnxruntime failed to run {where}: '
                            f'{" ".join(str(err).split())[:300]}')
        parts.append([o[:n - pad] for o in outputs])
    return [np.concatenate(outs) for outs in zip(*parts)]


class OnnxPoseModel:
    """An exported model, checked and loaded in onnxruntime.

    Args:
        path (str): The ``.onnx`` file
        threads (int, optional): onnxruntime's intra-op threads; its
            default (all cores) when ``None``

    Attributes:
        metadata (dict): The checked plain values (``config``,
            ``decoding``, ``input_size``, ... see ``metadata.SCHEMA``)
        input_size (tuple): (w, h) of the crops
        batch_size (int | None): The fixed batch, or None if dynamic
        dataset_meta (dict): MMPose's dataset metainfo, for drawing
    """

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        import onnx
        from google.protobuf.message import DecodeError
        self.path = path
        raw = read_model_file(path)
        try:
            proto = onnx.load_from_string(raw)
        except (DecodeError, ValueError, RuntimeError) as err:
            raise UserError(f'{path} is not an ONNX model '
                            f'({" ".join(str(err).split())[:200]})')
        self.metadata = read_metadata(proto, path)
        self.input_size = tuple(self.metadata['input_size'])
        self.dataset_meta = dataset_meta(self.metadata)
        self._check_graph(proto)
        check_digest(proto, path)
        self.session = ort_session(raw, path, threads)

    def _check_graph(self, proto) -> None:
        """The graph's input and outputs against the metadata; no tensor
        may name an external file."""
        path = self.path
        if any(t.data_location == t.EXTERNAL or t.external_data
               for t in _tensors(proto.graph)):
            raise UserError(f'{path} keeps tensors in external files; an '
                            f'export holds its weights inside; {REEXPORT}')
        weights = {t.name for t in proto.graph.initializer}
        inputs = [i for i in proto.graph.input if i.name not in weights]
        outputs = {o.name: _dims(o) for o in proto.graph.output}
        if len(inputs) != 1 or set(outputs) != {'keypoints', 'scores'}:
            raise UserError(
                f'{path} has {len(inputs)} inputs and outputs '
                f'{sorted(map(str, outputs))[:4]}, not one crop input and '
                f'keypoints and scores; {REEXPORT}')
        self.input_name = inputs[0].name
        dims = _dims(inputs[0])
        w, h = self.input_size
        if len(dims) != 4 or dims[1:] != [3, h, w]:
            raise UserError(
                f'{path}: its graph takes input {dims[:5]} but its metadata '
                f'says {w}x{h} crops ([batch, 3, {h}, {w}]); {REEXPORT}')
        self.batch_size = dims[0] if isinstance(dims[0], int) else None
        if self.batch_size is not None and not (
                1 <= self.batch_size <= MAX_BATCH
                and self.batch_size * w * h <= MAX_BATCH_PIXELS):
            raise UserError(
                f'{path}: its graph takes batches of {self.batch_size} '
                f'{w}x{h} crops; an export takes at most {MAX_BATCH}, and '
                f'{MAX_BATCH_PIXELS} crop pixels per batch; {REEXPORT} and '
                'a smaller --batch')
        num = self.dataset_meta['num_keypoints']
        if outputs['keypoints'][1:] != [num, 2] or \
                outputs['scores'][1:] != [num]:
            raise UserError(
                f'{path}: its graph outputs keypoints '
                f'{outputs["keypoints"][:4]} but its metadata describes '
                f'{self.dataset_meta["dataset_name"]} with {num}; {REEXPORT}')

    def __call__(self, inputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, K, 2) in crop pixels and scores (B, K) of
        normalised crops (B, 3, h, w)."""
        return tuple(run_in_batches(self.session, self.input_name, inputs,
                                    self.batch_size, self.path,
                                    ['keypoints', 'scores']))

    def crop(self, img: np.ndarray, box) -> Tuple[np.ndarray, dict]:
        """The normalised crop (3, h, w) of ``box`` (x1, y1, x2, y2) in the
        BGR image, and its affine (``input_size``, ``input_center``,
        ``input_scale``): MMPose's ``GetBBoxCenterScale``,
        ``TopdownAffine`` and ``PoseDataPreprocessor``, step by step."""
        import cv2
        from mmpose.structures.bbox import (bbox_xyxy2cs, get_udp_warp_matrix,
                                            get_warp_matrix)
        meta = self.metadata
        w, h = self.input_size
        box = np.asarray(box, np.float64).reshape(-1)
        if box.shape != (4, ) or not np.isfinite(box).all() or \
                not (box[2] > box[0] and box[3] > box[1]):
            raise UserError(f'box {box.tolist()[:8]} is not x1 y1 x2 y2 with '
                            'x1 < x2 and y1 < y2')
        center, scale = bbox_xyxy2cs(np.asarray(box, np.float32)[None],
                                     padding=meta['padding'])
        # TopdownAffine._fix_aspect_ratio
        bw, bh = np.hsplit(scale, [1])
        scale = np.where(bw > bh * (w / h), np.hstack([bw, bw / (w / h)]),
                         np.hstack([bh * (w / h), bh]))
        center, scale = center[0], scale[0]
        warp = (get_udp_warp_matrix if meta['use_udp'] else
                get_warp_matrix)(center, scale, 0., output_size=(w, h))
        crop = cv2.warpAffine(img, warp, (w, h), flags=cv2.INTER_LINEAR)
        crop = crop.transpose(2, 0, 1)
        if meta['bgr_to_rgb']:
            crop = crop[[2, 1, 0]]
        mean = np.array(meta['mean'], np.float32)[:, None, None]
        std = np.array(meta['std'], np.float32)[:, None, None]
        crop = (crop.astype(np.float32) - mean) / std
        return crop, dict(input_size=(w, h), input_center=center,
                          input_scale=scale)

    def inference(self, img: np.ndarray, bboxes: Optional[np.ndarray] = None
                  ) -> List:
        """Top-down inference on a BGR image, as MMPose's
        ``inference_topdown``: one PoseDataSample per box (x1, y1, x2, y2;
        the whole image without boxes), keypoints in image pixels. An image
        past the pixel limit of training and testing is refused."""
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample

        from ..datasets.image_check import MAX_PIXELS_ENV, max_image_pixels
        h, w = img.shape[:2]
        if img.ndim != 3 or img.shape[2] != 3:
            raise UserError(f'the image has shape {img.shape}, not a colour '
                            'image (height, width, 3)')
        if h * w > max_image_pixels():
            raise UserError(
                f'the image has {w}x{h} pixels, more than the limit of '
                f'{max_image_pixels()} (raise it with the environment '
                f'variable {MAX_PIXELS_ENV} if the image is real)')
        if bboxes is None or len(bboxes) == 0:
            bboxes = np.array([[0, 0, w, h]], dtype=np.float32)
        crops = [self.crop(img, box) for box in bboxes]
        keypoints, scores = self(np.stack([c for c, _ in crops]))
        samples = []
        for box, (_, affine), k, s in zip(bboxes, crops, keypoints, scores):
            sample = PoseDataSample(metainfo=dict(
                affine, img_shape=(h, w), ori_shape=(h, w)))
            sample.pred_instances = InstanceData(
                keypoints=crop_to_image(k[None], affine),
                keypoint_scores=s[None], keypoints_visible=s[None],
                bboxes=np.asarray(box, np.float32)[None],
                bbox_scores=np.ones(1, np.float32))
            samples.append(sample)
        return samples

    def visualizer_cfg(self) -> dict:
        """The visualizer to draw with: MMPose's ``PoseLocalVisualizer``,
        named by its class (nothing of it comes from the file)."""
        from mmpose.visualization import PoseLocalVisualizer
        return dict(type=PoseLocalVisualizer, name='onnx_visualizer')
