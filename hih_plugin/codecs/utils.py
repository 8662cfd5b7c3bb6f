"""Helpers shared by the codecs."""
import warnings
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor


def sanitize_visibility(keypoints_visible: Optional[np.ndarray],
                        shape: Tuple[int, int], codec: str) -> np.ndarray:
    """Visibility as an (N, K) float array; ``None`` means all visible.

    Accepts MMPose's (N, K, 1) too. Non-finite values become 0 (invisible),
    with one warning naming how many there were, so that a single NaN in an
    annotation cannot turn a weight, and with it the loss, into NaN.
    """
    if keypoints_visible is None:
        return np.ones(shape, dtype=np.float32)
    visible = np.asarray(keypoints_visible, dtype=np.float32)
    if visible.ndim == 3:
        visible = visible[..., 0]
    finite = np.isfinite(visible)
    if not finite.all():
        warnings.warn(
            f'{codec}: {int((~finite).sum())} keypoint visibility value(s) '
            'are NaN/inf; they are treated as invisible (weight 0). Check '
            'the annotations or the transforms before GenerateTarget.')
        visible = np.where(finite, visible, 0.).astype(np.float32)
    return visible


def finite_coordinates(keypoints: np.ndarray, visible: np.ndarray,
                       codec: str) -> np.ndarray:
    """(N, K) mask of keypoints with finite coordinates, with one warning
    naming how many visible ones are not (they get weight 0)."""
    finite = np.isfinite(keypoints).all(-1)
    if not finite[visible > 0].all():
        warnings.warn(
            f'{codec}: {int((~finite & (visible > 0)).sum())} visible '
            'keypoint(s) have NaN/inf coordinates; they get weight 0. '
            'Check the annotations or the transforms before '
            'GenerateTarget.')
    return finite


def finite_rows(maps):
    """Whether each row of ``maps`` (numpy or torch, maps flattened on the
    last axis) is usable: its max is NaN with a NaN cell, +inf with a +inf
    cell and -inf without a finite cell, so one reduction finds them all."""
    if isinstance(maps, torch.Tensor):
        return maps.amax(-1).isfinite()
    return np.isfinite(maps.max(-1))


def decimal_bin_position(offset, decimal_size: int, span: int = 1):
    """Continuous bin position of a sub-cell ``offset`` (in cells, relative
    to the cell the decimal map refers to) on a map of ``decimal_size`` bins
    spanning ``span`` cells centred on that cell: bin ``j`` covers offsets
    ``[-span/2 + j*w, -span/2 + (j+1)*w)`` with ``w = span / decimal_size``,
    and its centre sits at position ``j``. Numpy or torch."""
    return (offset + span / 2) * (decimal_size / span) - 0.5


def decimal_bin_offset(bin_pos, decimal_size: int, span: int = 1):
    """Inverse of :func:`decimal_bin_position`: bin position -> offset."""
    return (bin_pos + 0.5) * (span / decimal_size) - span / 2


def decimal_axis_labels(bin_pos, decimal_size: int, sigma: float = 1.):
    """Per-axis Gaussian soft labels centred on continuous bin positions.

    Args:
        bin_pos: Bin positions ``[x, y]`` in shape (..., 2), numpy or torch
            (see :func:`decimal_bin_position`)
        decimal_size (int): Bins per axis, d
        sigma (float): Gaussian sigma in bins

    Returns:
        The same array type in shape (..., 2, d): the x and the y label,
        each summing to 1. Their outer product ``y[:, None] * x[None, :]``
        is the joint (d, d) label that HIH's CSC is trained on.
    """
    if isinstance(bin_pos, Tensor):
        j = torch.arange(decimal_size, dtype=bin_pos.dtype,
                         device=bin_pos.device)
        g = torch.exp(-(j - bin_pos[..., None])**2 / (2 * sigma**2))
        return g / g.sum(-1, keepdim=True)
    g = np.exp(-(np.arange(decimal_size) - bin_pos[..., None])**2 /
               (2 * sigma**2))
    return g / g.sum(-1, keepdims=True)
