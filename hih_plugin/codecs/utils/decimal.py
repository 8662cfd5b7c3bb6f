"""HIH's decimal map: sub-cell offsets <-> bin positions, soft labels."""
import numpy as np
import torch
from torch import Tensor


def decimal_bin_position(offset, decimal_size: int, span: int = 1):
    """Continuous bin position of a sub-cell ``offset`` (in cells, relative
    to the cell the decimal map refers to) on a map of ``decimal_size`` bins
    spanning ``span`` cells centred on that cell: bin ``j`` covers offsets
    ``[-span/2 + j*w, -span/2 + (j+1)*w)`` with ``w = span / decimal_size``,
    and its centre sits at position ``j``. Numpy or torch."""
    return (offset + span / 2) * (decimal_size / span) - 0.5


def decimal_bin_offset(bin_pos, decimal_size: int, span: int = 1,
                       convention: str = 'unbiased'):
    """Inverse of :func:`decimal_bin_position`: bin position -> offset.

    ``convention='official'`` is the official code's map instead, bin ``j``
    -> offset ``j / decimal_size`` from a floored cell (one-cell span only).
    Numpy or torch.
    """
    if convention == 'official':
        return bin_pos / decimal_size
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


def generate_decimal_labels(bin_pos: np.ndarray, valid: np.ndarray,
                            decimal_size: int, sigma: float = 1.,
                            label: str = 'gaussian') -> np.ndarray:
    """Joint (d, d) decimal soft labels, each a distribution.

    Args:
        bin_pos (np.ndarray): Bin positions ``[x, y]`` in shape (N, K, 2)
        valid (np.ndarray): (N, K) mask; the others get a uniform,
            loss-free label, which keeps the KL finite
        decimal_size (int): Bins per axis, d
        sigma (float): Gaussian sigma in bins
        label (str): ``'gaussian'``, the outer product of
            :func:`decimal_axis_labels`, or ``'softmax'``, the official
            label: the softmax over the d*d bins of a Gaussian with peak 1

    Returns:
        np.ndarray: The labels in shape (N, K, d, d), float64
    """
    if label == 'softmax':
        g = np.exp(-(np.arange(decimal_size) - bin_pos[..., None])**2 /
                   (2 * sigma**2))
        decimal = np.exp(g[..., 1, :, None] * g[..., 0, None, :])
    else:
        g = decimal_axis_labels(bin_pos, decimal_size, sigma)
        decimal = g[..., 1, :, None] * g[..., 0, None, :]
    decimal[~valid] = 1.
    decimal /= decimal.sum(axis=(-2, -1), keepdims=True)
    return decimal
