"""H3R's targets: randomly rounded one-hot maps and their expectation."""
from typing import Tuple

import numpy as np


def _split(uv: np.ndarray, valid: np.ndarray):
    """Indices of the valid keypoints, their floor cells and fractions."""
    n, k = np.nonzero(valid)
    base = np.floor(uv[n, k])
    return n, k, base.astype(np.int64), uv[n, k] - base


def generate_rounded_heatmaps(heatmap_size: Tuple[int, int],
                              uv: np.ndarray, valid: np.ndarray,
                              rng: np.random.Generator) -> np.ndarray:
    """One-hot maps at randomly rounded cells.

    Each axis of ``uv`` is rounded up with probability equal to its
    fractional part, independently, so ``E[cell] = uv``.

    Args:
        heatmap_size (tuple): Heatmap size in [W, H]
        uv (np.ndarray): Heatmap coordinates in shape (N, K, 2), within
            ``[0, W-1] x [0, H-1]`` where ``valid``
        valid (np.ndarray): (N, K) mask of the keypoints to draw
        rng (np.random.Generator): The source of the draws

    Returns:
        np.ndarray: The maps in shape (N, K, H, W), float32
    """
    W, H = heatmap_size
    heatmaps = np.zeros(valid.shape + (H, W), dtype=np.float32)
    n, k, base, frac = _split(uv, valid)
    cell = base + (rng.random((len(n), 2)) < frac)
    heatmaps[n, k, cell[:, 1], cell[:, 0]] = 1.
    return heatmaps


def generate_bilinear_heatmaps(heatmap_size: Tuple[int, int],
                               uv: np.ndarray,
                               valid: np.ndarray) -> np.ndarray:
    """The expectation of :func:`generate_rounded_heatmaps`: the bilinear
    four-cell split of ``uv``. Same arguments, without ``rng``."""
    W, H = heatmap_size
    heatmaps = np.zeros(valid.shape + (H, W), dtype=np.float32)
    n, k, base, frac = _split(uv, valid)
    for dx in (0, 1):
        for dy in (0, 1):
            w = (frac[:, 0] if dx else 1 - frac[:, 0]) * \
                (frac[:, 1] if dy else 1 - frac[:, 1])
            # At u = W-1 the upper neighbour has weight 0; clipping its
            # index keeps it on the map without changing sums.
            x = np.minimum(base[:, 0] + dx, W - 1)
            y = np.minimum(base[:, 1] + dy, H - 1)
            np.add.at(heatmaps, (n, k, y, x), w)
    return heatmaps
