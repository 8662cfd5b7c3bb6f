"""Export a top-down model to ONNX and compare the export with PyTorch."""
import warnings
from typing import Iterable, Optional, Tuple

import numpy as np
import torch

from ..errors import UserError
from .graph import DecodedPoseModel
from .metadata import sign
from .onnx_model import OnnxPoseModel, crop_to_image, run_in_batches

# The first maps of the graph and of PyTorch agree to float rounding:
# about 1e-6 of their largest magnitude (onnxruntime's and PyTorch's
# convolutions differ in the last bits); another network is far off.
MAP_RTOL = 1e-3
# Top values closer than this (relative to the map's largest magnitude)
# are a tie that rounding may break either way.
TIE_RTOL = 1e-4
# Widely supported (onnxruntime >= 1.13, TensorRT >= 8.6); the TorchScript
# exporter of torch 2.13 writes opsets 7 to 20.
DEFAULT_OPSET = 17
MAX_OPSET = 20


def set_input_size(cfg, size: Tuple[int, int]) -> None:
    """Retarget ``cfg`` to (w, h) crops: the head's codec (its heatmap keeps
    the stride) and the test pipeline's ``TopdownAffine``."""
    codec = cfg.model.head.get('decoder')
    if codec is None or 'input_size' not in codec:
        raise UserError('--input-size needs a head decoder with an '
                        'input_size; leave it out to use the config\'s')
    old_in, old_hm = codec.input_size, codec.heatmap_size
    heatmap = []
    for new, i, h in zip(size, old_in, old_hm):
        stride = i // h
        if new % stride:
            raise UserError(
                f'--input-size {size[0]} {size[1]} is not a multiple of the '
                f'heatmap stride {stride} of {tuple(old_in)} -> '
                f'{tuple(old_hm)}; pick multiples of {stride}')
        heatmap.append(new // stride)
    codec.input_size, codec.heatmap_size = tuple(size), tuple(heatmap)
    for t in cfg.test_dataloader.dataset.pipeline:
        if t.get('type') == 'TopdownAffine':
            t.input_size = tuple(size)


def export_onnx(model: torch.nn.Module, path: str, input_size, batch: int,
                dynamic_batch: bool, opset: int,
                metadata: Optional[dict] = None):
    """Write the model, decoding included, to ``path``, checked by the ONNX
    checker and signed with ``metadata`` (see :func:`sign`).

    torch 2.13's default exporter (``dynamo=True``) needs onnxscript; the
    TorchScript exporter (``dynamo=False``) needs nothing besides torch and
    traces the head's own forward, argmax gathers included, so it is used.

    Returns:
        tuple: the traced :class:`DecodedPoseModel` and the serialised
        graph that also outputs the maps the decoding reads (``map0``,
        ...), which :func:`compare` checks; the file is that graph without
        those outputs.
    """
    import onnx
    wrapper = DecodedPoseModel(model, with_maps=True).eval()
    w, h = input_size
    example = torch.randn(batch, 3, h, w)
    with torch.no_grad():
        keypoints, _, *maps = wrapper(example)
    names = ['input', 'keypoints', 'scores'] + [
        f'map{i}' for i in range(len(maps))]
    axes = {n: {0: 'batch'} for n in names} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated in favour of dynamo, and
        # the tracer warns about the shape arithmetic of the decoding; the
        # checks below and --verify test what it traced
        warnings.simplefilter('ignore')
        try:
            torch.onnx.export(wrapper, (example, ), path, dynamo=False,
                              input_names=names[:1], output_names=names[1:],
                              opset_version=opset, dynamic_axes=axes)
        except torch.onnx.errors.OnnxExporterError as err:
            raise UserError(f'torch.onnx.export failed: '
                            f'{" ".join(str(err).split())}')
    # the exporter leaves the keypoint count symbolic with a dynamic batch
    proto = onnx.load(path)
    for output, dims in zip(proto.graph.output,
                            (keypoints.shape, keypoints.shape[:2])):
        for i, (dim, size) in enumerate(zip(output.type.tensor_type.shape.dim,
                                            dims)):
            dim.Clear()
            if dynamic_batch and i == 0:
                dim.dim_param = 'batch'
            else:
                dim.dim_value = size
    with_maps = proto.SerializeToString()
    del proto.graph.output[2:]  # the maps feed the decoding: no node goes
    onnx.checker.check_model(proto, full_check=True)
    if metadata is not None:
        sign(proto, metadata)
    onnx.save(proto, path)
    wrapper.with_maps = False
    return wrapper, with_maps


def torch_predictions(model, inputs: torch.Tensor, data_samples):
    """PyTorch's own ``predict`` (flip test off): keypoints and scores in
    image pixels."""
    flip = model.test_cfg.get('flip_test', False)
    model.test_cfg['flip_test'] = False
    try:
        with torch.no_grad():
            results = model.predict(inputs, data_samples)
    finally:
        model.test_cfg['flip_test'] = flip
    return (np.stack([r.pred_instances.keypoints[0] for r in results]),
            np.stack([r.pred_instances.keypoint_scores[0] for r in results]))


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b|; inf where either is not finite (NaN is no match for NaN:
    a model whose maps are NaN verifies nothing)."""
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    diff[~np.isfinite(diff)] = np.inf
    return diff


def near_tied(maps, topk: int) -> np.ndarray:
    """(B, K): keypoints whose maps are flat where the decoding chooses:
    the ``topk``-th and next largest values of the first map (the argmax
    for ``topk=1``), or the two largest of a decimal map, within
    :data:`TIE_RTOL` of the map's largest magnitude. Float rounding then
    picks another cell, which says the model is untrained, not that the
    export is wrong."""
    tied = None
    for i, m in enumerate(maps[:2]):
        if not m.is_floating_point() or m.dim() < 4:
            continue
        flat = m.detach().flatten(-2).double()
        k = min(topk if i == 0 else 1, flat.shape[-1] - 1)
        top = flat.topk(k + 1, -1).values
        scale = flat.abs().amax(-1).clamp_min(1e-30)
        t = (top[..., k - 1] - top[..., k]) <= TIE_RTOL * scale
        t = t.flatten(2).any(-1) if t.dim() > 2 else t
        tied = t if tied is None else tied | t
    return tied.numpy()


def compare(model, onnx_model: OnnxPoseModel, maps_session, wrapper,
            batches: Iterable, max_samples: Optional[int] = None) -> dict:
    """Run the export and PyTorch on the same preprocessed crops, and
    measure apart what can differ.

    Args:
        model: The PyTorch model
        onnx_model (OnnxPoseModel): The export of ``model``
        maps_session: onnxruntime session of the export's graph with its
            map outputs (:func:`export_onnx`)
        wrapper (DecodedPoseModel): What was exported
        batches: Data batches of the config's test dataloader
        max_samples (int, optional): Stop after this many crops

    Returns:
        dict: ``samples``; ``nonfinite``: crops where PyTorch's maps or
        keypoints are NaN or inf; ``map_rtol``: the largest difference of
        the first maps (the network's heatmaps) over their largest
        magnitude; ``decode_px`` / ``decode_score``: the graph's keypoints
        against the codec's own decoding of the graph's maps; ``max_px`` /
        ``max_score``: the export end to end against PyTorch's ``predict``
        (keypoints mapped to the image with the same affine, back in input
        pixels), and ``untied_px`` / ``untied_score`` the same without the
        keypoints whose maps are near-tied (:func:`near_tied`), ``tied``
        their number
    """
    out = dict(samples=0, nonfinite=0, map_rtol=0., decode_px=0.,
               decode_score=0., max_px=0., max_score=0., untied_px=0.,
               untied_score=0., tied=0)
    topk = getattr(model.head.decoder, 'topk', 1)
    indices = model.test_cfg.get('output_keypoint_indices')
    for batch in batches:
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
            inputs, samples = data['inputs'], data['data_samples']
            maps = wrapper.maps(inputs)
        if max_samples:
            keep = max_samples - out['samples']
            inputs, samples = inputs[:keep], samples[:keep]
            maps = tuple(m[:keep] for m in maps)
        x = inputs.cpu().numpy()
        kpts, scores, *graph_maps = run_in_batches(
            maps_session, onnx_model.input_name, x, onnx_model.batch_size,
            onnx_model.path)
        ref_maps = wrapper.reference(
            tuple(torch.from_numpy(m) for m in graph_maps))
        out['decode_px'] = max(out['decode_px'], float(
            np.sqrt((_differences(kpts, ref_maps[0])**2).sum(-1)).max()))
        out['decode_score'] = max(out['decode_score'], float(
            _differences(scores, ref_maps[1]).max()))
        scale = np.abs(maps[0].numpy()).max()
        out['map_rtol'] = max(out['map_rtol'], float(
            _differences(graph_maps[0], maps[0].numpy()).max() /
            max(scale, 1e-30)))
        tied = near_tied(maps, topk)
        kpts, scores = onnx_model(x)
        ref_kpts, ref_scores = torch_predictions(model, inputs, samples)
        if indices is not None:
            kpts, scores = kpts[:, indices], scores[:, indices]
            tied = tied[:, indices]
        finite = [np.isfinite(m.numpy()).all(tuple(range(1, m.dim())))
                  for m in maps if m.is_floating_point()]
        finite.append(np.isfinite(ref_kpts).all((1, 2)))
        out['nonfinite'] += int((~np.logical_and.reduce(finite)).sum())
        for k, s, rk, rs, t, sample in zip(kpts, scores, ref_kpts,
                                           ref_scores, tied, samples):
            meta = sample.metainfo
            # image-pixel differences back to crop pixels, per axis
            px = (_differences(crop_to_image(k, meta), rk) /
                  np.asarray(meta['input_scale']) *
                  np.asarray(meta['input_size']))
            px = np.sqrt((px**2).sum(-1))
            ds = _differences(s, rs)
            out['max_px'] = max(out['max_px'], float(px.max()))
            out['max_score'] = max(out['max_score'], float(ds.max()))
            out['untied_px'] = max(out['untied_px'],
                                   float(px[~t].max(initial=0.)))
            out['untied_score'] = max(out['untied_score'],
                                      float(ds[~t].max(initial=0.)))
            out['tied'] += int(t.sum())
        out['samples'] += len(samples)
        if max_samples and out['samples'] >= max_samples:
            break
    return out


# ------------------------------------------------- metadata from the config
# the test pipeline transforms the .onnx reader reproduces (the others load
# or pack, which it does itself)
_CROP = ('GetBBoxCenterScale', 'TopdownAffine')
_NO_OP = ('LoadImage', 'LoadCheckedImage', 'PackPoseInputs')


def _crop_values(cfg) -> dict:
    """Padding, crop size and UDP from the test pipeline, which must be
    ``GetBBoxCenterScale`` + ``TopdownAffine`` (the reader's own crop)."""
    steps = {}
    for t in cfg.test_dataloader.dataset.pipeline:
        kind = t.get('type')
        if kind not in _CROP + _NO_OP:
            raise UserError(
                f'the test pipeline has {kind}, which the .onnx reader does '
                'not reproduce: it cuts crops as GetBBoxCenterScale + '
                'TopdownAffine only')
        steps[kind] = t
    if any(k not in steps for k in _CROP):
        raise UserError('the test pipeline needs GetBBoxCenterScale and '
                        'TopdownAffine, which cut the crops the graph takes')
    affine = steps['TopdownAffine']
    return dict(input_size=[int(v) for v in affine.input_size],
                padding=float(steps['GetBBoxCenterScale'].get('padding',
                                                              1.25)),
                use_udp=bool(affine.get('use_udp', False)))


def _normalisation(cfg, input_size) -> dict:
    """Mean, std and channel order of the model's data preprocessor."""
    pre = cfg.model.data_preprocessor
    if pre.get('type') not in ('PoseDataPreprocessor', 'ImgDataPreprocessor'):
        raise UserError(f'the model\'s data_preprocessor is {pre.get("type")}'
                        '; the .onnx reader normalises as '
                        'PoseDataPreprocessor does')
    divisor = pre.get('pad_size_divisor', 1)
    if any(v % divisor for v in input_size):
        raise UserError(f'the data_preprocessor pads crops to multiples of '
                        f'{divisor}; the .onnx reader does not pad')
    mean, std = pre.get('mean'), pre.get('std')
    mean = [0., 0., 0.] if mean is None else [float(v) for v in mean]
    std = [1., 1., 1.] if std is None else [float(v) for v in std]
    return dict(mean=(mean * 3)[:3], std=(std * 3)[:3],
                bgr_to_rgb=bool(pre.get('bgr_to_rgb') or
                                pre.get('rgb_to_bgr')))


def _keypoint_values(cfg) -> dict:
    """Names, flip, skeleton and colours of the test dataset, parsed as
    MMPose parses them (its ``from_file`` is config code, read here, at
    export, only)."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import DATASETS
    ds = cfg.test_dataloader.dataset
    metainfo = ds.get('metainfo') or getattr(DATASETS.get(ds.type),
                                             'METAINFO', None)
    if not metainfo:
        raise UserError('the config names no dataset metainfo for its test '
                        'dataset; set test_dataloader.dataset.metainfo')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # MMPose's from_file fallback
        meta = parse_pose_metainfo(metainfo.to_dict() if hasattr(
            metainfo, 'to_dict') else dict(metainfo))
    num = meta['num_keypoints']
    return dict(
        dataset_name=str(meta['dataset_name']),
        keypoint_names=[str(meta['keypoint_id2name'][i])
                        for i in range(num)],
        flip_indices=[int(i) for i in meta['flip_indices']],
        skeleton_links=[[int(a), int(b)] for a, b in meta['skeleton_links']],
        keypoint_colors=np.asarray(meta['keypoint_colors'],
                                   dtype=int).reshape(-1, 3).tolist(),
        link_colors=np.asarray(meta['skeleton_link_colors'],
                               dtype=int).reshape(-1, 3).tolist(),
        sigmas=[float(v) for v in np.asarray(meta['sigmas']).ravel()])


def build_metadata(cfg, config_path: str, decoding: str) -> dict:
    """The plain metadata of an export of ``cfg`` (checked against the
    schema when it is signed)."""
    import os.path as osp
    crop = _crop_values(cfg)
    return dict(config=osp.basename(config_path), decoding=decoding,
                **crop, **_normalisation(cfg, crop['input_size']),
                **_keypoint_values(cfg))


def check_crop(cfg, model, onnx_model: OnnxPoseModel) -> float:
    """The largest difference between the reader's crop and normalisation
    and the config's test pipeline and data preprocessor on a random image
    and box; a UserError above float rounding."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (173, 241, 3), dtype=np.uint8)
    box = np.array([31.5, 12.25, 190., 160.75], np.float32)
    pipeline = Compose([t for t in cfg.test_dataloader.dataset.pipeline
                        if t.type not in ('LoadImage', 'LoadCheckedImage')])
    data = pipeline(dict(img=img, img_shape=img.shape[:2], bbox=box[None],
                         bbox_score=np.ones(1, np.float32), id=0))
    with torch.no_grad():
        ref = model.data_preprocessor(pseudo_collate([data]),
                                      training=False)['inputs'][0].numpy()
    ours, _ = onnx_model.crop(img, box)
    diff = float(np.abs(ours - ref).max())
    if not diff <= 1e-4:
        raise UserError(f'the .onnx reader\'s crop differs from the test '
                        f'pipeline\'s by {diff:.3g}; the config crops in a '
                        'way the export cannot describe')
    return diff
