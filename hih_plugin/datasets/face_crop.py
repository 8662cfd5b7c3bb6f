"""A face cut out of a photograph by a similarity transform (scale and
shift), with its landmarks and box mapped into the cut-out.

A top-down pipeline only ever looks at a face's box with some padding, so a
dataset of large photographs can be cut down to its faces once, before
training: decoding a 2000 px photograph costs more than a small model's step
on it. A similarity transform changes no normalised error (NME divides by a
distance in the same image).
"""
import numpy as np


def face_crop(img: np.ndarray, box, size: int, span: float):
    """Cut a ``size`` x ``size`` square out of ``img``, centred on ``box``
    (x1, y1, x2, y2) and ``span`` times its longer side wide.

    Returns:
        tuple: the cut-out (size, size, C) and the transform ``(unit, t)``
        that maps a point ``x`` of ``img`` to ``unit * x + t`` in it.
        Pixel centres sit at integer coordinates in both, as in OpenCV and
        MMPose.
    """
    import cv2
    x1, y1, x2, y2 = (float(v) for v in box)
    longer = max(x2 - x1, y2 - y1)
    if not (np.isfinite([x1, y1, x2, y2]).all() and longer > 0):
        raise ValueError(f'face_crop: box {box} is empty or not finite')
    unit = size / (span * longer)
    t = 0.5 * (size - 1) - unit * np.array([x1 + x2, y1 + y2]) / 2
    # Halve with pyrDown (pixel 2i becomes pixel i) while the scale is
    # below 1/2, so that the bilinear warp does not alias.
    s = unit
    while s < 0.5 and min(img.shape[:2]) > 1:
        img, s = cv2.pyrDown(img), 2 * s
    m = np.array([[s, 0, t[0]], [0, s, t[1]]])
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR)
    return out, (unit, t)
