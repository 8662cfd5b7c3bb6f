"""Export a top-down model to ONNX and compare the export with PyTorch."""
import warnings
from typing import Iterable, Optional, Tuple

import numpy as np
import torch

from ..errors import UserError
from .graph import DecodedPoseModel
from .onnx_model import OnnxPoseModel, crop_to_image, sign

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
                metadata: Optional[dict] = None) -> DecodedPoseModel:
    """Write the model, decoding included, to ``path``, checked by the ONNX
    checker and signed with ``metadata`` (see :func:`sign`).

    torch 2.13's default exporter (``dynamo=True``) needs onnxscript; the
    TorchScript exporter (``dynamo=False``) needs nothing besides torch and
    traces the head's own forward, argmax gathers included, so it is used.
    """
    import onnx
    wrapper = DecodedPoseModel(model).eval()
    w, h = input_size
    example = torch.randn(batch, 3, h, w)
    names = ['input', 'keypoints', 'scores']
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
        keypoints, _ = wrapper(example)
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
    onnx.checker.check_model(proto, full_check=True)
    if metadata is not None:
        sign(proto, metadata)
    onnx.save(proto, path)
    return wrapper


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
    """|a - b|, 0 where both are NaN, inf where only one is."""
    diff = np.abs(a - b)
    both = np.isnan(a) & np.isnan(b)
    diff[both] = 0.
    diff[np.isnan(diff)] = np.inf
    return diff


def compare(model, onnx_model: OnnxPoseModel, batches: Iterable,
            max_samples: Optional[int] = None) -> dict:
    """Run the export and PyTorch's predict on the same preprocessed crops.

    Args:
        model: The PyTorch model
        onnx_model (OnnxPoseModel): The export of ``model``
        batches: Data batches of the config's test dataloader
        max_samples (int, optional): Stop after this many crops

    Returns:
        dict: ``samples``, ``max_px``: the largest keypoint distance in
        input (crop) pixels after mapping the export's keypoints to the
        image with the same affine as PyTorch's; ``max_score``: the largest
        score difference
    """
    seen, max_px, max_score = 0, 0., 0.
    for batch in batches:
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
        inputs, samples = data['inputs'], data['data_samples']
        kpts, scores = onnx_model(inputs.cpu().numpy())
        indices = model.test_cfg.get('output_keypoint_indices')
        if indices is not None:
            kpts, scores = kpts[:, indices], scores[:, indices]
        ref_kpts, ref_scores = torch_predictions(model, inputs, samples)
        for k, s, rk, rs, sample in zip(kpts, scores, ref_kpts, ref_scores,
                                        samples):
            meta = sample.metainfo
            # image-pixel differences back to crop pixels, per axis
            px = (_differences(crop_to_image(k, meta), rk) /
                  np.asarray(meta['input_scale']) *
                  np.asarray(meta['input_size']))
            max_px = max(max_px, float(np.sqrt((px**2).sum(-1)).max()))
            max_score = max(max_score, float(_differences(s, rs).max()))
            seen += 1
            if max_samples and seen >= max_samples:
                return dict(samples=seen, max_px=max_px, max_score=max_score)
    return dict(samples=seen, max_px=max_px, max_score=max_score)
