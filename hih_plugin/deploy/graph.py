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


def _hih(head, feats):
    return head.decode_tensors(feats)


def _h3r(head, feats):
    return head.decoder.decode_tensors(head.forward(feats))


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
