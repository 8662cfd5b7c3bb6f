"""A top-down pose model with its decoding inside, for ``torch.onnx.export``.

:class:`DecodedPoseModel` maps a normalised crop (B, 3, h, w) to keypoints
(B, K, 2) in crop pixels and their scores (B, K). Features and heatmaps come
from the model's own ``extract_feat`` and ``head.forward``; ``HIHHead``'s
``decode_tensors`` gathers the local read-out's logits at the argmax cells
(and their neighbours, with votes) itself. Our codecs' last step is their own
``decode_tensors``, the one implementation behind their ``decode`` and
``batch_decode``; MMPose's
``MSRAHeatmap`` decodes in numpy, so its step is restated here in torch
operators that export.
"""
import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..codecs.utils import flat_index_to_cells
from ..errors import UserError

SUPPORTED = ('HIHHead with HIHHeatmap, a HeatmapHead (H3RHead, HeatmapHead) '
             'with H3RHeatmap, or a HeatmapHead with '
             'MSRAHeatmap(unbiased=False)')


def _scale(codec) -> Tensor:
    return torch.as_tensor(codec.scale_factor, dtype=torch.float32)


def msra_decode(codec, heatmaps: Tensor):
    """MMPose's ``MSRAHeatmap.decode`` with ``unbiased=False``: the argmax
    moved a quarter cell towards the larger neighbour (``refine_keypoints``,
    with its bounds), and ``-1`` where the maximum is not positive."""
    H, W = heatmaps.shape[-2:]
    flat = heatmaps.flatten(2)
    scores, idx = flat.max(-1)
    x, y = flat_index_to_cells(idx, W).unbind(-1)

    def at(dx: int, dy: int) -> Tensor:
        i = (y + dy).clamp(0, H - 1) * W + (x + dx).clamp(0, W - 1)
        return flat.gather(-1, i[..., None])[..., 0]

    step_x = torch.where((x > 1) & (x < W - 1) & (y > 0),
                         torch.sign(at(1, 0) - at(-1, 0)) * 0.25, 0.)
    step_y = torch.where((y > 1) & (y < H - 1) & (x > 0),
                         torch.sign(at(0, 1) - at(0, -1)) * 0.25, 0.)
    keypoints = torch.stack([x + step_x, y + step_y], -1).to(torch.float32)
    keypoints = torch.where((scores > 0)[..., None], keypoints,
                            torch.full_like(keypoints, -1.))
    return keypoints * _scale(codec), scores


class _Decoding:
    """One head's decoding, split where the export is checked: ``maps``
    (the tensors the decoding reads, from the network), ``decode`` (the
    graph's decoding of them) and ``reference`` (the codec's own decoding,
    to which the graph's must agree on the same maps)."""

    def __init__(self, maps, decode, reference):
        self.maps, self.decode, self.reference = maps, decode, reference

    def __call__(self, head, feats):
        return self.decode(head, self.maps(head, feats))


def _batched(lists):
    keypoints, scores = lists
    return (np.stack([k[0] for k in keypoints]),
            np.stack([s[0] for s in scores]))


def _msra_reference(head, maps):
    decoded = [head.decoder.decode(m.numpy()) for m in maps[0]]
    return (np.stack([k[0] for k, _ in decoded]),
            np.stack([s[0] for _, s in decoded]))


# HIH: the last integer maps as scores, the decimal distributions and, with
# votes, their cells and weights (None without)
_hih = _Decoding(
    lambda head, feats: tuple(m for m in head._view_maps(feats)
                              if m is not None),
    lambda head, maps: head.decoder.decode_tensors(*maps),
    lambda head, maps: _batched(head.decoder.batch_decode(*maps)))
_h3r = _Decoding(
    lambda head, feats: (head.forward(feats), ),
    lambda head, maps: head.decoder.decode_tensors(maps[0]),
    lambda head, maps: _batched(head.decoder.batch_decode(maps[0])))
_msra = _Decoding(
    lambda head, feats: (head.forward(feats), ),
    lambda head, maps: msra_decode(head.decoder, maps[0]),
    _msra_reference)


def graph_decoder(head):
    """The in-graph decoding of ``head``, or a :class:`UserError` naming
    what is supported."""
    from mmpose.codecs import MSRAHeatmap
    from mmpose.models.heads import HeatmapHead

    from ..codecs import H3RHeatmap, HIHHeatmap
    from ..models.heads import HIHHead
    codec = getattr(head, 'decoder', None)
    if isinstance(head, HIHHead) and isinstance(codec, HIHHeatmap):
        return _hih
    if isinstance(head, HeatmapHead) and isinstance(codec, H3RHeatmap):
        return _h3r
    if isinstance(head, HeatmapHead) and isinstance(codec, MSRAHeatmap) \
            and not codec.unbiased:
        return _msra
    described = type(head).__name__ + (
        f' with {type(codec).__name__}' if codec is not None else '')
    if isinstance(codec, MSRAHeatmap):
        described += '(unbiased=True, DARK refinement)'
    raise UserError(f'cannot put the decoding of {described} into the ONNX '
                    f'graph; supported: {SUPPORTED}')


def describe_decoding(head) -> str:
    """What the graph decodes, for the metadata and the tools' output;
    a :class:`UserError` for an unsupported head."""
    decode = graph_decoder(head)
    codec = head.decoder
    name = f'{type(head).__name__} + {type(codec).__name__}'
    if decode is _hih:
        return (f'{name}: {head.decimal_mode} decimal read-out, '
                f'{codec.decode_mode} decode')
    if decode is _h3r:
        return f'{name}: top-{codec.topk} soft-argmax'
    return f'{name}: argmax with quarter-cell refinement'


class DecodedPoseModel(nn.Module):
    """A top-down pose estimator from normalised crops to keypoints.

    Args:
        model (TopdownPoseEstimator): The model, in eval mode
        with_maps (bool): Also return the maps the decoding reads, after
            keypoints and scores (what the export's check compares)

    Returns (forward):
        tuple: keypoints (B, K, 2) in crop (input) pixels, float32, and
        scores (B, K); NaN keypoints and score 0 for a non-finite map
    """

    def __init__(self, model: nn.Module, with_maps: bool = False) -> None:
        super().__init__()
        self.model = model
        self.decoding = graph_decoder(model.head)
        self.with_maps = with_maps

    def maps(self, inputs: Tensor) -> tuple:
        """The tensors the decoding reads, from the network."""
        return self.decoding.maps(self.model.head,
                                  self.model.extract_feat(inputs))

    def reference(self, maps) -> tuple:
        """The codec's own keypoints (B, K, 2) and scores (B, K) of
        ``maps`` (tensors), in numpy."""
        return self.decoding.reference(self.model.head, maps)

    def forward(self, inputs: Tensor):
        maps = self.maps(inputs)
        keypoints, scores = self.decoding.decode(self.model.head, maps)
        return (keypoints, scores, *maps) if self.with_maps else \
            (keypoints, scores)
