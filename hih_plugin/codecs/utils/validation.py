"""Input checks shared by the codecs: visibility, coordinates, map rows."""
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


def finite_rows(maps: Tensor) -> Tensor:
    """Whether each row of ``maps`` (flattened on the last axis) is usable:
    its max is NaN with a NaN cell, +inf with a +inf cell and -inf without
    a finite cell, so one reduction finds them all (in an exported graph
    also a search for NaN: onnxruntime's ReduceMax passes over NaN)."""
    finite = maps.amax(-1).isfinite()
    if torch.jit.is_tracing():
        finite = finite & ~maps.isnan().any(-1)
    return finite
