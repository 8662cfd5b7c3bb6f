"""A top-down pose model with its decoding inside, for ``torch.onnx.export``.

:class:`DecodedPoseModel` maps a normalised crop (B, 3, h, w) to keypoints
(B, K, 2) in crop pixels and their scores (B, K). Features and heatmaps come
from the model's own ``extract_feat`` and ``head.forward`` (for HIH's local
read-out, ``head.forward`` gathers the decimal logits at the argmax cells
itself); only the codec's last step, which the codecs write in numpy or
return as numpy, is restated here in torch operators that export.
"""
import torch
import torch.nn as nn
from torch import Tensor

from ..errors import UserError

SUPPORTED = ('HIHHead with HIHHeatmap, a HeatmapHead (H3RHead, HeatmapHead) '
             'with H3RHeatmap, or a HeatmapHead with '
             'MSRAHeatmap(unbiased=False)')


def _cells(idx: Tensor, width: int) -> Tensor:
    """Flat indices -> float ``[x, y]`` cells."""
    return torch.stack([idx % width, torch.div(idx, width,
                                               rounding_mode='floor')],
                       -1).to(torch.float32)


def _scale(codec) -> Tensor:
    return torch.as_tensor(codec.scale_factor, dtype=torch.float32)


def _mark_bad(keypoints: Tensor, scores: Tensor, bad: Tensor):
    """NaN keypoints and score 0 for non-finite maps, as the codecs do."""
    nan = torch.full_like(keypoints, float('nan'))
    return (torch.where(bad[..., None], nan, keypoints),
            torch.where(bad, torch.zeros_like(scores), scores))


def hih_decode(codec, heatmaps: Tensor, decimal: Tensor):
    """:meth:`HIHHeatmap.batch_decode` in float32 torch operators.

    Args:
        codec (HIHHeatmap): The head's decoder
        heatmaps (Tensor): Integer heatmaps (B, K, H, W)
        decimal (Tensor): Decimal probabilities (B, K, d, d)

    Returns:
        tuple: keypoints (B, K, 2) in input pixels and scores (B, K)
    """
    d = codec.decimal_size
    scores, idx = heatmaps.flatten(2).max(-1)
    bad = ~(scores.isfinite() & decimal.flatten(2).amax(-1).isfinite())
    cell = _cells(idx, heatmaps.shape[-1])
    if codec.decode_mode == 'argmax':
        bin_pos = _cells(decimal.flatten(2).argmax(-1), d)
    else:
        p = decimal.clamp(min=0)
        p = p / p.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
        j = torch.arange(d, dtype=p.dtype)
        bin_pos = torch.stack([(p.sum(-2) * j).sum(-1),
                               (p.sum(-1) * j).sum(-1)], -1)
    # the codec's own bin -> offset map (convention and decimal_span)
    offset = codec._bin_offset(bin_pos)
    return _mark_bad((cell + offset) * _scale(codec), scores, bad)


def h3r_decode(codec, logits: Tensor):
    """:meth:`H3RHeatmap.batch_decode`: the softmax-weighted mean cell of
    the ``topk`` largest logits. ONNX ``TopK`` puts the lower index first
    among equal values, which is the codec's documented tie rule."""
    flat = logits.flatten(2)
    bad = ~flat.amax(-1).isfinite()
    top, idx = flat.topk(codec.topk, dim=-1)
    prob = (top - top[..., :1]).exp()
    cells = _cells(idx, logits.shape[-1])
    keypoints = (prob[..., None] * cells).sum(-2) / prob.sum(-1, keepdim=True)
    return _mark_bad(keypoints * _scale(codec), top[..., 0].sigmoid(), bad)


def msra_decode(codec, heatmaps: Tensor):
    """MMPose's ``MSRAHeatmap.decode`` with ``unbiased=False``: the argmax
    moved a quarter cell towards the larger neighbour (``refine_keypoints``,
    with its bounds), and ``-1`` where the maximum is not positive."""
    H, W = heatmaps.shape[-2:]
    flat = heatmaps.flatten(2)
    scores, idx = flat.max(-1)
    x = idx % W
    y = torch.div(idx, W, rounding_mode='floor')

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


def _hih(head, feats):
    heatmaps, logits = head.forward(feats)
    return hih_decode(head.decoder, heatmaps[-1],
                      head._decimal_probs(logits))


def _h3r(head, feats):
    return h3r_decode(head.decoder, head.forward(feats))


def _msra(head, feats):
    return msra_decode(head.decoder, head.forward(feats))


def graph_decoder(head):
    """The in-graph decoding of ``head``, or a :class:`UserError` naming
    what is supported."""
    from mmpose.codecs import MSRAHeatmap
    from mmpose.models.heads import HeatmapHead

    from ..codecs import H3RHeatmap, HIHHeatmap
    from ..models.heads import HIHHead
    codec = getattr(head, 'decoder', None)
    if isinstance(head, HIHHead) and isinstance(codec, HIHHeatmap):
        if head.neighbour_votes:
            raise UserError(
                'cannot put HIHHead(neighbour_votes=True) into the ONNX graph '
                'yet; export with --cfg-options '
                'model.head.neighbour_votes=False (the read-out at the '
                'argmax cell, the same trained weights)')
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

    Returns (forward):
        tuple: keypoints (B, K, 2) in crop (input) pixels, float32, and
        scores (B, K); NaN keypoints and score 0 for a non-finite map
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.decode = graph_decoder(model.head)

    def forward(self, inputs: Tensor):
        return self.decode(self.model.head, self.model.extract_feat(inputs))
