"""Checks of annotation content and images before the runner starts.

:func:`~hih_plugin.utils.cli.check_dataset_paths` makes sure the files exist;
:func:`check_dataset_content` makes sure they can be used, so that a broken
dataset ends in one ``error:`` line naming the file and the fix instead of a
traceback deep inside a DataLoader worker:

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
import os
import os.path as osp

import cv2
import numpy as np

from .cli import DATA_PREP_DOC, UserError, split_datasets

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
    if isinstance(data, dict) and 'annotations' in data:
        # COCO keypoints are a flat [x, y, v] * K list
        records = [(ann.get('id', i), len(ann['keypoints']) / 3)
                   for i, ann in enumerate(data['annotations'])
                   if isinstance(ann.get('keypoints'), list)]
        files = {img.get('id'): img.get('file_name')
                 for img in data.get('images', [])}
        images = [files.get(ann.get('image_id'))
                  for ann in data['annotations']]
    elif isinstance(data, list) and all(
            isinstance(r, dict) and 'joints' in r for r in data):
        records = [(i, len(r['joints'])) for i, r in enumerate(data)]
        images = [r.get('image') for r in data]
    else:
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
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    if head.startswith(b'\xff\xd8\xff') and b'\xff\xd9' not in tail:
        return 'is truncated (a JPEG without its end marker)'
    if head.startswith(b'\x89PNG') and b'IEND' not in tail:
        return 'is truncated (a PNG without its IEND chunk)'
    if not head.startswith(SIGNATURES) and cv2.imdecode(
            np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED) is None:
        return 'is not an image OpenCV can decode'
    return None
