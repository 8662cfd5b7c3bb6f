"""Checks of annotation records, before the runner starts.

Called by :mod:`~hih_plugin.cli.checks.data` on an annotation file it has
loaded: the types and shapes of the fields MMPose's datasets read (``bbox``
of 4 numbers, ``center`` of 2, a positive ``scale``, ``num_keypoints`` a
count, keypoint triples), every number finite, so that NaN or infinity in a
file stops the run with one line instead of turning into NaN metrics; and
the dataset class's own ``parse_data_info`` on one annotation of each set
of keys, so a key the class needs and the file lacks is named with the file
and the entry, not raised as a KeyError deep in the runner.
"""
import math
import os.path as osp

import numpy as np

from ...errors import DATA_PREP_DOC, UserError


def _bad_entry(where, what, problem):
    return UserError(f'{where}: {what} {problem}; fix or remove that entry, '
                     f'or regenerate the file ({DATA_PREP_DOC})')


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value):
    return _is_number(value) and math.isfinite(value) and value > 0


def _finite_list(value, length):
    return (isinstance(value, list) and len(value) == length
            and all(_is_number(v) and math.isfinite(v) for v in value))


# The numeric fields MMPose's datasets read from an annotation, when present:
# what each must be, and the test.
FIELDS = {
    'bbox': ('a list of 4 finite numbers (x, y, w, h)',
             lambda v, _: _finite_list(v, 4)),
    'center': ('a list of 2 finite numbers', lambda v, _: _finite_list(v, 2)),
    'scale': ('a positive finite number', lambda v, _: _positive(v)),
    'area': ('a finite number',
             lambda v, _: _is_number(v) and math.isfinite(v)),
    'num_keypoints': ('a whole number from 0 to the keypoint count',
                      lambda v, k: _is_number(v) and math.isfinite(v)
                      and v == int(v) and 0 <= v <= k),
}


def _check_fields(where, what, record, count):
    """Refuse a field of ``record`` that is not what MMPose reads it as
    (``FIELDS``); ``count`` is its number of keypoints."""
    for key, (wanted, ok) in FIELDS.items():
        value = record.get(key)
        if value is not None and not ok(value, count):
            raise _bad_entry(where, what, f'has "{key}" {value!r:.60}, not '
                             f'{wanted}')


def coco_records(data, where, num):
    """``(records, image files)`` of a COCO-style file, after checking its
    types and shapes, its image ids and its coordinates."""
    images, anns = data.get('images'), data.get('annotations')
    for key, value in (('images', images), ('annotations', anns)):
        if not isinstance(value, list):
            raise UserError(
                f'{where} has no "{key}" list, so it is not COCO-style '
                f'annotations as MMPose reads them; regenerate it with the '
                f'dataset converter ({DATA_PREP_DOC})')
    files, sizes = {}, {}
    for i, img in enumerate(images):
        what = f'image entry {i}'
        if not isinstance(img, dict):
            raise _bad_entry(where, what, f'is a {type(img).__name__}, not '
                             'an object')
        img_id, name = img.get('id'), img.get('file_name')
        if isinstance(img_id, (bool, float)) or not isinstance(
                img_id, (int, str)) or not isinstance(name, str):
            raise _bad_entry(where, what, 'has no integer "id" and string '
                             '"file_name"')
        if img_id in files:
            raise _bad_entry(where, what, f'repeats image id {img_id!r} of '
                             f'{files[img_id]}: annotations would be paired '
                             'with the wrong image')
        files[img_id] = name
        w, h = img.get('width'), img.get('height')
        if (w, h) != (None, None) and not (_positive(w) and _positive(h)):
            raise _bad_entry(where, what, 'has a "width" or "height" that '
                             'is not a positive finite number')
        if w is not None:
            sizes[img_id] = max(w, h)
    records, names, kpts, reach = [], [], [], []
    for i, ann in enumerate(anns):
        what = f'annotation entry {i}'
        if not isinstance(ann, dict):
            raise _bad_entry(where, what, f'is a {type(ann).__name__}, not '
                             'an object')
        what = f'annotation {ann.get("id", "")!s:.40} (entry {i})'
        if ann.get('image_id') not in files:
            raise _bad_entry(where, what, f'refers to image_id '
                             f'{ann.get("image_id")!r:.40}, which "images" '
                             'does not list')
        points = ann.get('keypoints')
        if not isinstance(points, list) or len(points) % 3:
            raise _bad_entry(where, what, 'has no "keypoints" list of x, y, '
                             'visibility triples')
        _check_fields(where, what, ann, len(points) // 3)
        records.append((ann.get('id', i), len(points) / 3))
        names.append(files[ann['image_id']])
        if len(points) == 3 * (num or len(anns[0].get('keypoints'))):
            kpts.append(points)
            reach.append(sizes.get(ann['image_id'], 0))
    if kpts:
        _check_coordinates(where, anns, kpts, reach)
    return records, names


# Without the image size, coordinates beyond this many pixels are absurd.
MAX_COORD = 1e5


def _check_coordinates(where, anns, kpts, reach):
    """Keypoints are numbers, finite, and within one image size of the
    image (or ``MAX_COORD`` where the size is unknown)."""
    try:
        arr = np.array(kpts)
    except ValueError:  # nested lists of unequal lengths
        arr = np.array([None])
    if arr.dtype.kind not in 'iuf':
        for points in kpts:
            if not all(map(_is_number, points)):
                raise _bad_entry(where, _ann_name(anns, points),
                                 'has keypoints that are not numbers')
        arr = np.array(kpts, dtype=np.float64)  # ints beyond int64
    xy = arr.reshape(len(arr), -1, 3)[:, :, :2].astype(np.float64)
    size = np.array(reach, dtype=np.float64)[:, None, None]
    low = np.where(size > 0, -size, -MAX_COORD)
    high = np.where(size > 0, 2 * size, MAX_COORD)
    ok = np.isfinite(xy) & (xy >= low) & (xy <= high)
    if not ok.all():
        row, kpt, _ = np.argwhere(~ok)[0]
        x, y = xy[row, kpt]
        raise _bad_entry(where, _ann_name(anns, kpts[row]),
                         f'has keypoint {kpt} at ({x:g}, {y:g}): not finite, '
                         'or more than one image size outside the image')


def _ann_name(anns, points):
    i = next(i for i, ann in enumerate(anns)
             if isinstance(ann, dict) and ann.get('keypoints') is points)
    return f'annotation {anns[i].get("id", "")!s:.40} (entry {i})'


def joints_records(data, where, num=None):
    """``(records, image files)`` of a list of samples with ``joints``
    (MPII's format); ``(None, None)`` for a list of another format."""
    if not data:
        return [], []
    if not all(isinstance(r, dict) and 'joints' in r for r in data):
        if any(isinstance(r, dict) and 'joints' in r for r in data):
            i = next(i for i, r in enumerate(data)
                     if not (isinstance(r, dict) and 'joints' in r))
            raise _bad_entry(where, f'sample {i}', 'is not an object with '
                             '"joints"')
        return None, None
    for i, r in enumerate(data):
        joints = r['joints']
        if not isinstance(joints, list) or not all(
                isinstance(j, list) and len(j) == 2
                and all(map(_is_number, j)) for j in joints):
            raise _bad_entry(where, f'sample {i}', 'has "joints" that are '
                             'not a list of [x, y] numbers')
        if not all(math.isfinite(c) and abs(c) <= MAX_COORD
                   for j in joints for c in j):
            raise _bad_entry(where, f'sample {i}', 'has joints that are not '
                             f'finite or beyond {MAX_COORD:g} pixels')
        if not isinstance(r.get('image'), str):
            raise _bad_entry(where, f'sample {i}', 'has no string "image"')
        # MPII's reader needs these three; a sample with the wrong joint
        # count is named by the caller's count check
        vis = r.get('joints_vis')
        count_ok = len(joints) == (num or len(joints))
        if not (isinstance(vis, list) and all(map(_is_number, vis)) and (
                len(vis) == len(joints) or not count_ok)):
            raise _bad_entry(where, f'sample {i}', 'has no "joints_vis" '
                             'list of one number per joint')
        for key in ('center', 'scale'):
            if key not in r:
                raise _bad_entry(where, f'sample {i}', f'has no "{key}"')
        _check_fields(where, f'sample {i}', r, len(joints))
    return ([(i, len(r['joints'])) for i, r in enumerate(data)],
            [r['image'] for r in data])


def check_parsing(ds, data, where, prefix):
    """Run the dataset class's ``parse_data_info`` (MMPose's COCO-style
    datasets) on one annotation of each distinct set of annotation and image
    keys in ``data``: a key the class needs that the file lacks is refused
    naming the entry. The values were checked above, so one annotation of
    each shape stands for the others, and COCO's 150k cost no time."""
    from mmpose.datasets.datasets.base import BaseCocoStyleDataset
    from mmpose.registry import DATASETS
    cls = ds.get('type')
    if isinstance(cls, str):
        cls = DATASETS.get(cls)
    if not (isinstance(cls, type) and issubclass(cls, BaseCocoStyleDataset)):
        return
    images = {img['id']: img for img in data['images']}
    dataset, seen = None, set()
    for i, ann in enumerate(data['annotations']):
        img = images[ann['image_id']]
        shape = (frozenset(ann), frozenset(img))
        if shape in seen:
            continue
        seen.add(shape)
        if dataset is None:
            # only to parse: no pipeline, no annotations loaded
            kwargs = {k: v for k, v in ds.items()
                      if k not in ('type', '_scope_')}
            dataset = cls(**dict(kwargs, pipeline=[], lazy_init=True))
        raw = dict(raw_ann_info=ann, raw_img_info=dict(
            img, img_id=img['id'],
            img_path=osp.join(prefix, img['file_name'])))
        try:
            dataset.parse_data_info(raw)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise _bad_entry(
                where, f'annotation {ann.get("id", "")!s:.40} (entry {i})',
                f'cannot be read by {cls.__name__} ({type(err).__name__}: '
                f'{" ".join(str(err).split())[:100]})') from None
