"""The codecs' decoding, in torch operators.

Each function here is the one implementation of a codec's decoding: the
codec's ``decode`` runs it on a batch of one, its ``batch_decode`` on the
batch on the tensors' own device, and :mod:`hih_plugin.deploy.graph` traces
it into the exported ONNX graph. Data-dependent branches therefore only
skip work in eager mode; where tracing needs another operator it says why.
"""
import functools
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .decimal import decimal_bin_offset
from .validation import finite_rows

_NUMPY_DTYPES = (torch.float16, torch.float32, torch.float64)


def get_heatmap_maximum_tensor(flat: Tensor) -> Tuple[Tensor, Tensor]:
    """Maximum and its first index over the last axis; NaN wins, as in
    ``Tensor.max`` (in an exported graph too).

    On CPU outside tracing numpy's ``argmax`` runs it: it is several times
    faster there than torch's ``max``/``argmax`` over a dimension (the
    bulk of HIH's decoding on 64x64 maps). Both return the first maximum,
    and the index of the first NaN in a row that holds one.

    Args:
        flat (Tensor): Maps flattened on the last axis

    Returns:
        tuple: the maxima and their indices (int64), the shape of ``flat``
        without its last axis
    """
    if flat.is_cpu and flat.dtype in _NUMPY_DTYPES \
            and not torch.jit.is_tracing():
        maps = flat.detach().numpy()
        idx = maps.argmax(-1).astype(np.int64, copy=False)
        rows = maps.reshape(-1, maps.shape[-1])
        maxima = rows[np.arange(len(rows)), idx.ravel()]
        return (torch.from_numpy(maxima.reshape(idx.shape)),
                torch.from_numpy(idx))
    maxima, idx = flat.max(-1)
    if torch.jit.is_tracing():
        # onnxruntime's ReduceMax passes over NaN; here NaN must win
        maxima = maxima.masked_fill(flat.isnan().any(-1), float('nan'))
    return maxima, idx


def numpy_batch_of_one(array, dtype=None) -> Tensor:
    """A numpy array as a CPU tensor with a leading batch axis of 1, for
    a codec's ``decode``. Shares memory where it can; copies read-only or
    non-contiguous input, which ``torch.from_numpy`` refuses or warns on.
    (Flags are read directly: ``np.require`` costs more than the rest of
    the conversion, in a call made once per sample.)"""
    array = np.asarray(array, dtype=dtype)
    if not (array.flags.c_contiguous and array.flags.writeable):
        array = array.copy()
    return torch.from_numpy(array[None])


def flat_index_to_cells(idx: Tensor, width: int) -> Tensor:
    """Flat indices on maps of ``width`` columns -> int64 ``[x, y]``."""
    return torch.stack(
        [idx % width, torch.div(idx, width, rounding_mode='floor')], -1)


@functools.lru_cache(maxsize=32)
def _constant(values: tuple, dtype: torch.dtype,
              device: torch.device) -> Tensor:
    """``values`` as a tensor, made once."""
    with torch.inference_mode(False):  # usable outside inference mode too
        return torch.tensor(values, dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _flat_cell_table(size: int, width: int, device: torch.device) -> Tensor:
    """:func:`flat_index_to_cells` of every flat index below ``size``."""
    with torch.inference_mode(False):
        return flat_index_to_cells(torch.arange(size, device=device), width)


@functools.lru_cache(maxsize=32)
def _bin_offset_table(d: int, span: int, convention: str,
                      dtype: torch.dtype, device: torch.device) -> Tensor:
    """The offset ``[x, y]`` that each of the ``d * d`` bins of a decimal
    map decodes to, by :func:`decimal_bin_offset`."""
    bins = _flat_cell_table(d * d, d, device)
    with torch.inference_mode(False):
        return decimal_bin_offset(bins.to(dtype), d, span, convention)


def decode_hih_tensors(heatmaps: Tensor,
                       decimal: Tensor,
                       scale_factor: Sequence[float],
                       decode_mode: str = 'argmax',
                       decimal_span: int = 1,
                       convention: str = 'unbiased',
                       cells: Optional[Tensor] = None,
                       cell_weights: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Tensor]:
    """HIH's decoding: integer cell plus decimal offset, times the stride.

    By default each keypoint is read at the argmax cell of its integer
    heatmap. With ``cells``, each keypoint is the ``cell_weights`` weighted
    mean of M votes, vote m being ``cells[..., m, :]`` plus the offset its
    own decimal map ``[..., m, :, :]`` decodes to.

    Args:
        heatmaps (Tensor): Integer heatmaps in shape (B, K, H, W)
        decimal (Tensor): Decimal maps in shape (B, K, d, d), or
            (B, K, M, d, d) with ``cells``: logits or probabilities for
            ``'argmax'``, non-negative weights for ``'expectation'``. The
            offsets and keypoints are computed in its dtype
        scale_factor (Sequence[float]): Input pixels per cell, ``[x, y]``
        decode_mode (str): ``'argmax'`` or ``'expectation'`` (see
            :class:`HIHHeatmap`)
        decimal_span (int): Cells the decimal bins span
        convention (str): ``'unbiased'`` or ``'official'``
        cells (Tensor, optional): Integer cells ``[x, y]`` of the votes in
            shape (B, K, M, 2)
        cell_weights (Tensor, optional): Vote weights in shape (B, K, M).
            Defaults to equal weights

    Returns:
        tuple:
        - keypoints (Tensor): (B, K, 2) in input pixels; NaN where the
            integer map or a decimal map of the keypoint holds a NaN or
            +inf cell, or no finite one
        - scores (Tensor): (B, K), the integer heatmap maxima; 0 where the
            keypoints are NaN
    """
    d = decimal.shape[-1]
    scores, idx = get_heatmap_maximum_tensor(heatmaps.flatten(2))
    # (B, K) or (B, K, M) decimal maxima and their bins
    dmax, didx = get_heatmap_maximum_tensor(decimal.flatten(-2))
    votes = cells is not None
    # A per-sample decode spends most of its time after the argmax in
    # operator calls on a few hundred numbers, so eager mode reads the
    # argmax cells and bin offsets from cached tables: one indexing each
    # instead of up to seven operators. A traced graph computes them.
    tables = not torch.jit.is_tracing()
    H, W = heatmaps.shape[-2:]
    if votes:  # the maximum over all votes' maps of a keypoint
        dmax = get_heatmap_maximum_tensor(dmax)[0]
    elif tables:
        cells = _flat_cell_table(H * W, W, idx.device)[idx]
    else:
        cells = flat_index_to_cells(idx, W)
    # A NaN or +inf cell wins the argmax and would pass for a confident
    # peak; a map without a finite cell has a maximum of -inf. Such a
    # maximum times 0 is NaN, a finite one's 0 (isfinite costs more
    # operators).
    bad = (scores * 0 * dmax).isnan()
    if decode_mode == 'argmax' and tables:
        offsets = _bin_offset_table(d, decimal_span, convention,
                                    decimal.dtype, didx.device)[didx]
    else:
        if decode_mode == 'argmax':
            bin_pos = flat_index_to_cells(didx, d).to(decimal.dtype)
        else:
            p = decimal.clamp(min=0)
            p = p / p.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
            j = torch.arange(d, dtype=p.dtype, device=p.device)
            bin_pos = torch.stack([(p.sum(-2) * j).sum(-1),
                                   (p.sum(-1) * j).sum(-1)], -1)
        offsets = decimal_bin_offset(bin_pos, d, decimal_span, convention)
    points = cells + offsets
    if votes and cell_weights is None:
        points = points.mean(2)
    elif votes:
        w = cell_weights.to(points.dtype)[..., None]
        points = (points * w).sum(2) / w.sum(2).clamp(min=1e-12)
    if tables:
        scale = _constant(tuple(scale_factor), points.dtype, points.device)
    else:
        scale = torch.as_tensor(scale_factor, dtype=points.dtype,
                                device=points.device)
    keypoints = points * scale
    if not tables or bad.any():
        keypoints = keypoints.masked_fill(bad[..., None], float('nan'))
        scores = scores.masked_fill(bad, 0)
    return keypoints, scores


def decode_topk_tensors(logits: Tensor, topk: int,
                        scale_factor: Sequence[float]
                        ) -> Tuple[Tensor, Tensor]:
    """H3R's decoding: the softmax-weighted mean cell of the ``topk``
    largest logits, times the stride. Ties at the ``topk``-th largest logit
    go to the lower flat index; cells given as ``-inf`` (log 0) get
    weight 0.

    Args:
        logits (Tensor): Logits in shape (B, K, H, W); the keypoints are
            computed in their dtype
        topk (int): Number of top logits, in ``[1, H*W]``
        scale_factor (Sequence[float]): Input pixels per cell, ``[x, y]``

    Returns:
        tuple:
        - keypoints (Tensor): (B, K, 2) in input pixels; NaN for a map with
            a NaN or +inf cell, or without a finite cell
        - scores (Tensor): (B, K), the sigmoid of the largest logit; 0
            where the keypoints are NaN
    """
    H, W = logits.shape[-2:]
    flat = logits.flatten(2)
    bad = ~finite_rows(flat)
    # ONNX TopK puts the lower index first among equal values, the tie
    # rule itself; eager topk does not, and one more than topk shows
    # whether a tie straddles the topk-th place.
    n = topk if torch.jit.is_tracing() else min(topk + 1, H * W)
    top, idx = flat.topk(n, dim=-1)
    peak = top[..., :1]
    # exp(-inf - peak) = 0, so cells given as log(0) drop out.
    prob = (top[..., :topk] - peak).exp()
    cells = flat_index_to_cells(idx[..., :topk], W).to(prob.dtype)
    keypoints = (prob[..., None] * cells).sum(-2) / prob.sum(-1,
                                                             keepdim=True)
    if n > topk:
        tie = (top[..., topk] == top[..., topk - 1]) & ~bad
        if tie.any():
            keypoints[tie] = _tied_topk_mean(flat[tie], topk, W)
    scale = torch.as_tensor(scale_factor, dtype=keypoints.dtype,
                            device=keypoints.device)
    keypoints = (keypoints * scale).masked_fill(bad[..., None],
                                                float('nan'))
    return keypoints, peak[..., 0].sigmoid().masked_fill(bad, 0.)


def _tied_topk_mean(logits: Tensor, k: int, W: int) -> Tensor:
    """Softmax-weighted mean cell (x, y) of each row's ``k`` largest logits,
    ties at the ``k``-th going to the lower flat index.

    Args:
        logits (Tensor): Rows of flattened finite (or ``-inf``) logits, in
            shape (R, H*W)

    Returns:
        Tensor: (R, 2) mean cells
    """
    kth = logits.topk(k, dim=-1).values[:, -1:]
    above = logits > kth
    tied = logits == kth
    take = above | (tied & (tied.cumsum(-1) <=
                            k - above.sum(-1, keepdim=True)))
    peak = logits.max(dim=-1, keepdim=True).values
    prob = torch.where(take, (logits - peak).exp(), torch.zeros_like(logits))
    cells = flat_index_to_cells(
        torch.arange(logits.shape[-1], device=logits.device), W)
    return (prob @ cells.to(prob.dtype)) / prob.sum(dim=-1, keepdim=True)
