"""COCO-style face records as MMPose's face datasets read them
(``Face300WDataset``, ``WFLWDataset``, ...), for the converters of
``tools/dataset_converters/``.

Each face's box is the box of its landmarks: ``bbox`` is ``[x_min, y_min,
width, height]``, ``center`` its centre and ``scale`` its longer side / 200
(MMPose's ``pixel_std``), as in MMPose's own 300-W and WFLW files; the
datasets rebuild a square of that side around ``center``, and the configs'
``GetBBoxCenterScale`` pads it by 1.25.
"""
from typing import Sequence, Tuple

from ..errors import UserError

CATEGORY = dict(supercategory='person', id=1, name='face', keypoints=[],
                skeleton=[])
MAX_IMAGE_BYTES = 1 << 30


def face_record(points: Sequence[Tuple[float, float]], image_id: int,
                ann_id: int) -> dict:
    """The annotation of one face with 0-based ``points`` (x, y)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    w, h = x2 - x1, y2 - y1
    return dict(
        image_id=image_id, id=ann_id, category_id=1, iscrowd=0,
        keypoints=[round(v, 4) for p in points for v in (*p, 1)],
        num_keypoints=len(points),
        bbox=[round(v, 4) for v in (x1, y1, w, h)], area=round(w * h, 4),
        center=[round((x1 + x2) / 2, 4), round((y1 + y2) / 2, 4)],
        scale=round(max(w, h) / 200, 6))


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) from the image's header, without decoding it; a
    UserError for a missing, special or unreadable file."""
    import os
    import stat

    from PIL import Image, UnidentifiedImageError
    try:
        st = os.stat(path)
    except OSError as err:
        raise UserError(f'cannot read the image {path} ({err.strerror})')
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IMAGE_BYTES:
        raise UserError(f'the image {path} is not a regular file of at '
                        f'most {MAX_IMAGE_BYTES >> 20} MiB')
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f'cannot read the image {path} ({err})')
