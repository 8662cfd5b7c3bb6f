"""What the drawn faces and people share: cv2's sub-pixel coordinates, the
noisy gradient they are drawn on, and writing a dataset's JSON."""
import json
import os
import os.path as osp

import numpy as np

SHIFT = 4  # cv2 sub-pixel drawing: coordinates carry 4 fractional bits


def fixed_point(pts):
    """Pixel coordinates as cv2 draws them with ``shift=SHIFT``."""
    return np.round(np.asarray(pts) * (1 << SHIFT)).astype(np.int32)


def render_background(height, width, rng):
    """A random two-colour gradient with pixel noise, as uint8 BGR."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = rng.uniform(0, 1) * xx + (1 - rng.uniform(0, 1)) * yy
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255)
    return np.ascontiguousarray(img.astype(np.uint8))


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path``, making its folder."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)
