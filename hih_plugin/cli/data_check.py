"""Checks of annotation content and images before the runner starts.

:func:`~hih_plugin.cli.path_check.check_dataset_paths` makes sure the files
exist; :func:`check_dataset_content` makes sure they can be used, so that a
broken dataset ends in one ``error:`` line naming the file and the fix
instead of a traceback deep inside a DataLoader worker:

- an annotation file that is not valid JSON (file, line and column);
- an empty annotation list;
- an annotation whose keypoint count is not the dataset's ``num_keypoints``
  (from the dataset class's ``METAINFO`` or the config's ``metainfo``);
- an image that is missing, empty, or truncated.

Images are checked cheaply: one ``stat`` and two small reads per image (the
format signature at the start and the end-of-image marker of JPEG and PNG
files near the end), not a full decode, which would take minutes on COCO.
Files of another format whose signature is not recognised are decoded with
OpenCV. Damage inside an otherwise complete file is left to load time, where
MMPose's ``LoadImage`` names the image. Annotation formats other than
MMPose's COCO-style JSON (``images`` + ``annotations``) and MPII's list of
``joints`` are only checked for being valid JSON.
"""
import copy
import json
import math
import os
import os.path as osp

import cv2
import numpy as np

from ..datasets.image_check import image_size_problem
from ..errors import DATA_PREP_DOC, UserError
from .path_check import split_datasets

TAIL = 1024  # bytes read from the end of each image
SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'BM', b'GIF8',
              b'II*\x00', b'MM\x00*', b'RIFF')


def check_dataset_content(cfg, splits) -> None:
    """Fail before the runner starts if a split's annotations or images are
    unusable. Run it after ``check_dataset_paths``.

    Args:
        cfg: the merged config.
        splits: names of the dataloaders that will run, e.g.
            ``('train', 'val')``.
    """
    for split, ds in split_datasets(cfg, splits):
        _check_dataset(split, ds)


def _check_dataset(split, ds) -> None:
    root = ds.get('data_root', '') or ''
    ann_file = ds.get('ann_file')
    if not ann_file or not str(ann_file).endswith('.json'):
        return
    path = osp.join(root, ann_file)
    data = load_json(path, f'{split}_dataloader.dataset.ann_file')
    where = f'{split} annotation file {path}'
    num, _ = expected_num_keypoints(ds)
    if isinstance(data, dict):
        records, images = _coco_records(data, where, num)
    elif isinstance(data, list):
        records, images = _joints_records(data, where)
    else:
        raise UserError(f'{where} holds a JSON {type(data).__name__}, not '
                        'COCO-style annotations (an object with "images" '
                        'and "annotations") or a list of samples; '
                        f'regenerate it ({DATA_PREP_DOC})')
    if records is None:
        return
    if not records:
        raise UserError(
            f'{split} annotation file {path} has no keypoint annotations '
            '(its annotation list is empty); point '
            f'{split}_dataloader.dataset.ann_file at a file with samples')
    _check_keypoint_count(split, ds, path, records)
    prefix = (ds.get('data_prefix') or {}).get('img', '') or ''
    if root and not osp.isabs(prefix):
        prefix = osp.join(root, prefix)
    check_images([osp.join(prefix, name) for name in images if name],
                 f'{split}_dataloader.dataset.data_prefix.img')


def _bad_entry(where, what, problem):
    return UserError(f'{where}: {what} {problem}; fix or remove that entry, '
                     f'or regenerate the file ({DATA_PREP_DOC})')


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coco_records(data, where, num):
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
        if _is_number(w) and _is_number(h) and w > 0 and h > 0:
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
        for key in ('bbox', 'center'):
            box = ann.get(key)
            if box is not None and not (
                    isinstance(box, list) and all(map(_is_number, box))
                    and all(map(math.isfinite, box))):
                raise _bad_entry(where, what, f'has a "{key}" that is not '
                                 'a list of finite numbers')
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


def _joints_records(data, where):
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
    return ([(i, len(r['joints'])) for i, r in enumerate(data)],
            [r['image'] for r in data])


def load_json(path: str, key: str):
    """``json.load`` with a one-line error naming the file and position."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise UserError(
            f'annotation file {path} is not valid JSON: {err.msg} at line '
            f'{err.lineno} column {err.colno}; repair it or regenerate it '
            f'with the dataset converter ({DATA_PREP_DOC}), or set {key}'
        ) from None
    except UnicodeDecodeError as err:
        raise UserError(
            f'annotation file {path} is not UTF-8 JSON text ({err.reason} '
            f'at byte {err.start}); regenerate it with the dataset '
            f'converter ({DATA_PREP_DOC}), or set {key}') from None


def expected_num_keypoints(ds):
    """``(num_keypoints, dataset class name)`` from the dataset config's
    metainfo, or ``(None, None)`` for a dataset type without one."""
    from mmpose.registry import DATASETS
    cls = ds.get('type')
    if isinstance(cls, str):
        cls = DATASETS.get(cls)
    if cls is None or not hasattr(cls, '_load_metainfo'):
        return None, None
    metainfo = ds.get('metainfo')
    if metainfo is not None:
        metainfo = copy.deepcopy(dict(metainfo))
    meta = cls._load_metainfo(metainfo)
    return meta.get('num_keypoints'), cls.__name__


def _check_keypoint_count(split, ds, path, records) -> None:
    num, name = expected_num_keypoints(ds)
    if not num:
        return
    for ann_id, count in records:
        if count != num:
            raise UserError(
                f'{split} annotation {ann_id} in {path} has {count:g} '
                f'keypoints, but {name} has {num} (its metainfo); use the '
                'dataset type that matches the file, or set '
                f'{split}_dataloader.dataset.metainfo to its keypoint '
                'layout')


def check_images(paths, key: str) -> None:
    """Raise a :class:`UserError` naming the first missing, empty or
    truncated image in ``paths`` (each checked once)."""
    seen = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        problem = image_problem(path)
        if problem:
            raise UserError(
                f'image {path} {problem}; restore it from the dataset '
                f'({DATA_PREP_DOC}), remove its annotations, or set {key}')


def image_problem(path: str):
    """What is wrong with the image file at ``path``, or None."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return 'is missing'
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    if size == 0:
        return 'is empty (0 bytes)'
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
            f.seek(max(0, size - TAIL))
            tail = f.read()
            too_large = image_size_problem(f)
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    if too_large:
        return too_large
    if head.startswith(b'\xff\xd8\xff') and b'\xff\xd9' not in tail:
        return 'is truncated (a JPEG without its end marker)'
    if head.startswith(b'\x89PNG') and b'IEND' not in tail:
        return 'is truncated (a PNG without its IEND chunk)'
    if not head.startswith(SIGNATURES) and cv2.imdecode(
            np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED) is None:
        return 'is not an image OpenCV can decode'
    return None


def check_image_loading(cfg, splits) -> None:
    """Load images with :class:`~hih_plugin.datasets.LoadCheckedImage`
    instead of MMPose's ``LoadImage`` in the pipelines of ``splits``, so a
    damaged or oversized image stops the run with one line naming it
    rather than being trained or tested on. Decoding every image before the
    run instead would take minutes on COCO."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader', None)
        if loader:
            _check_loading(loader.get('dataset'))


def _check_loading(dataset):
    if not isinstance(dataset, dict):
        return
    for step in dataset.get('pipeline') or ():
        if isinstance(step, dict) and step.get('type') in (
                'LoadImage', 'mmpose.LoadImage'):
            step['type'] = 'LoadCheckedImage'
    for sub in dataset.get('datasets') or ():
        _check_loading(sub)
    _check_loading(dataset.get('dataset'))
