"""Checks of annotation content and images before the runner starts.

:func:`~hih_plugin.cli.checks.paths.check_dataset_paths` makes sure the files
exist; :func:`check_dataset_content` makes sure they can be used, so that a
broken dataset ends in one ``error:`` line naming the file and the fix
instead of a traceback deep inside a DataLoader worker:

- an annotation file that is not valid JSON (file, line and column);
- an empty annotation list;
- an annotation whose keypoint count is not the dataset's ``num_keypoints``
  (from the dataset class's ``METAINFO`` or the config's ``metainfo``);
- a field that is not a finite number of its shape, or a key the dataset
  class needs (:mod:`~hih_plugin.cli.checks.annotations`);
- an image that is missing, empty, or truncated.

Images are checked cheaply: one ``stat`` and two small reads per image (the
format signature at the start and the end-of-image marker of JPEG and PNG
files near the end), not a full decode, which would take minutes on COCO.
Files of another format whose signature is not recognised are decoded with
OpenCV. Damage inside an otherwise complete file is left to load time, where
the ``LoadCheckedImage`` of our configs names the image
(:func:`warn_unchecked_loading` warns of a pipeline without it). Annotation
formats other than MMPose's COCO-style JSON (``images`` + ``annotations``)
and MPII's list of ``joints`` are only checked for being valid JSON.
"""
import copy
import os
import os.path as osp
import stat
import sys

import cv2
import numpy as np

from ...datasets.image_check import image_size_problem
from ...errors import DATA_PREP_DOC, UserError
from .. import files
from ..dist import is_main_rank
from .annotations import check_parsing, coco_records, joints_records
from .paths import split_datasets

TAIL = 1024  # bytes read from the end of each image
SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'BM', b'GIF8',
              b'II*\x00', b'MM\x00*', b'RIFF')


def check_dataset_content(cfg, splits, images: bool = True) -> None:
    """Fail before the runner starts if a split's annotations or images are
    unusable. Run it after ``check_dataset_paths``.

    Args:
        cfg: the merged config.
        splits: names of the dataloaders that will run, e.g.
            ``('train', 'val')``.
        images: also check the images (a tool that reads only the
            annotations passes False).
    """
    for split, ds in split_datasets(cfg, splits):
        _check_dataset(split, ds, images)


def _check_dataset(split, ds, images=True) -> None:
    root = ds.get('data_root', '') or ''
    ann_file = ds.get('ann_file')
    if not ann_file or not str(ann_file).endswith('.json'):
        return
    path = osp.join(root, ann_file)
    data = load_json(path, f'{split}_dataloader.dataset.ann_file')
    where = f'{split} annotation file {path}'
    num, _ = expected_num_keypoints(ds)
    if isinstance(data, dict):
        records, names = coco_records(data, where, num)
    elif isinstance(data, list):
        records, names = joints_records(data, where, num)
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
    if isinstance(data, dict):
        check_parsing(ds, data, where, prefix)
    if images:
        check_images([osp.join(prefix, name) for name in names if name],
                     f'{split}_dataloader.dataset.data_prefix.img')


def load_json(path: str, key: str):
    """The annotation file's JSON, read as data (:func:`files.load_json`),
    with a one-line error naming the file, the position and the fix."""
    return files.load_json(
        path, 'annotation file', files.MAX_ANNOTATION_BYTES,
        f'repair it or regenerate it with the dataset converter '
        f'({DATA_PREP_DOC}), or set {key}')


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
        st = os.stat(path)
    except FileNotFoundError:
        return 'is missing'
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    size = st.st_size
    if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO would block
        return 'is not a regular file (a folder, FIFO, device or socket)'
    if size == 0:
        return 'is empty (0 bytes)'
    if size > files.MAX_IMAGE_BYTES:
        return (f'is {size} bytes, more than the {files.MAX_IMAGE_BYTES} an '
                'image may have')
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
    if not head.startswith(SIGNATURES):
        try:
            decoded = cv2.imdecode(np.fromfile(path, dtype=np.uint8),
                                   cv2.IMREAD_UNCHANGED)
        except cv2.error as err:  # e.g. a header OpenCV's decoder refuses
            return ('is not an image OpenCV can decode ('
                    f'{" ".join(str(err).split())[-120:]})')
        if decoded is None:
            return 'is not an image OpenCV can decode'
    return None


def warn_unchecked_loading(cfg, splits) -> None:
    """Warn in one line if a pipeline of ``splits`` loads images with
    MMPose's ``LoadImage``, which trains or tests on a damaged image
    without a word; :class:`~hih_plugin.datasets.LoadCheckedImage`, which
    our configs use, refuses it, naming it. The config is left as it is:
    which loader runs is the config's choice. Only the main process of a
    distributed run warns."""
    unchecked = [
        split for split in splits
        if _loads_unchecked((cfg.get(f'{split}_dataloader') or {}).get(
            'dataset'))
    ]
    if unchecked and is_main_rank():  # once, not once per rank
        print(f'warning: the {"/".join(unchecked)} pipeline loads images '
              "with LoadImage, which does not refuse a damaged image; write "
              "dict(type='LoadCheckedImage') in its place (docs/training.md)",
              file=sys.stderr)


def _loads_unchecked(dataset) -> bool:
    """Whether ``dataset`` or a dataset it wraps loads with ``LoadImage``."""
    if not isinstance(dataset, dict):
        return False
    if any(isinstance(step, dict) and step.get('type') in (
            'LoadImage', 'mmpose.LoadImage')
           for step in dataset.get('pipeline') or ()):
        return True
    return any(_loads_unchecked(sub) for sub in [
        *(dataset.get('datasets') or ()), dataset.get('dataset')])
