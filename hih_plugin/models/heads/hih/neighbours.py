"""The local read-out around the argmax: trained at the cells near the true
one, and their votes at test time."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ....codecs.utils import decimal_axis_labels, decimal_bin_position
from .integer import softmax_maps
from .local_readout import LocalDecimalReadout


def neighbour_cells(cells: Tensor, span: int, heatmap_size: Sequence[int]
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    """The cells within ``(span - 1) / 2`` of ``cells`` (B, K, 2): offsets
    (M, 2) ``[dx, dy]``, the cells (B, K, M, 2) and whether each lies in
    the heatmap of size ``(W, H)`` (B, K, M)."""
    r = (span - 1) // 2
    t = torch.arange(-r, r + 1, device=cells.device)
    delta = torch.stack(torch.meshgrid(t, t, indexing='xy'), -1).view(-1, 2)
    near = cells[:, :, None] + delta
    W, H = heatmap_size
    inside = ((near >= 0) & (near < near.new_tensor([W, H]))).all(-1)
    return delta, near, inside


class NeighbourTraining:
    """The decimal loss of the read-out at the cells around the true ones,
    each against the Gaussian label of the landmark's offset from that cell,
    so that an argmax a cell off still reads a trained, correcting offset.

    ``'neighbours'``: at every cell within ``(decimal_span - 1) / 2``,
    weighted by the integer target's Gaussian there (where an argmax that
    misses is likely to land, as MMPose's SKPS trains its offsets over the
    Gaussian neighbourhood), mean weight 1 per landmark. ``'jitter'``: at
    one such cell drawn per landmark and step with those weights as
    probabilities.

    Args:
        codec: The :class:`HIHHeatmap` the labels follow
        cells (str): ``'neighbours'`` or ``'jitter'``
        loss (nn.Module): The decimal loss
    """

    def __init__(self, codec, cells: str, loss: nn.Module) -> None:
        self.codec = codec
        self.jitter = cells == 'jitter'
        self.loss_module = loss

    def loss(self, readout: LocalDecimalReadout, feature: Tensor,
             cells: Tensor, offsets: Tensor,
             keypoint_weights: Tensor) -> Tensor:
        """The loss at the true ``cells`` (B, K, 2) and their neighbours,
        for the true ``offsets`` (B, K, 2) from the cells."""
        codec = self.codec
        span = codec.decimal_span
        delta, near, inside = neighbour_cells(cells, span, codec.heatmap_size)
        prior = torch.exp(-(delta**2).sum(-1) / (2 * codec.sigma**2))
        prior = prior.to(feature.dtype) * inside
        if self.jitter:
            pick = torch.multinomial(prior.flatten(0, 1), 1).view(
                *cells.shape[:2], 1)
            near = near.gather(2, pick[..., None].expand(-1, -1, -1, 2))
            prior = torch.ones_like(pick, dtype=feature.dtype)
            delta = delta[pick]  # (B, K, 1, 2)
        else:
            # mean weight 1 per landmark, as with the single true cell
            prior = prior * (prior.shape[-1] / prior.sum(-1, keepdim=True))
        bin_pos = decimal_bin_position(
            (offsets[:, :, None] - delta).to(feature.dtype),
            codec.decimal_size, span)
        target = decimal_axis_labels(bin_pos, codec.decimal_size,
                                     codec.decimal_sigma)  # (B, K, M, 2, d)
        weights = (keypoint_weights[:, :, None] * prior).flatten(1)
        if readout.bins == 'separable':
            return self.loss_module.separable(
                readout.axis_logits(feature, near).flatten(1, 2),
                target.flatten(1, 2), weights)
        joint = target[..., 1, :, None] * target[..., 0, None, :]
        return self.loss_module(
            readout(feature, near).flatten(1, 2), joint.flatten(1, 2),
            weights)


def neighbour_votes(readout: LocalDecimalReadout, feature: Tensor,
                    scores: Tensor, cells: Tensor, span: int,
                    power: float) -> Tuple[Tensor, Tensor, Tensor]:
    """The votes of the cells within ``(span - 1) / 2`` of the argmax
    ``cells`` (B, K, 2), as PIPNet adds its neighbours': each cell's decimal
    distribution (B, K, M, d, d), the cells (B, K, M, 2) and their weights
    (B, K, M), the integer ``scores`` (B, K, H, W) there clipped at 0 and
    raised to ``power``. :meth:`HIHHeatmap.decode_tensors` averages the
    points they decode to with these weights."""
    H, W = scores.shape[-2:]
    delta, near, inside = neighbour_cells(cells, span, (W, H))
    at = near[..., 1].clamp(0, H - 1) * W + near[..., 0].clamp(0, W - 1)
    weights = scores.flatten(2).gather(2, at)
    centre = (delta == 0).all(-1)
    # votes off the map get no weight; the argmax cell always keeps some
    weights = (weights.clamp(min=0) * inside)**power + 1e-6 * centre
    probs = softmax_maps(readout(feature, near))
    return probs, near, weights
