"""Validate a checkpoint's ``meta.dataset_meta`` before a tool uses it.

MMPose takes the keypoint layout from the checkpoint when it has one: the
flip test permutes keypoints by its ``flip_indices``, the visualizer draws
its ``skeleton_links`` with its colours, and ``inference_topdown`` merges
the whole dict into every sample. A crafted or stale entry (an index past
the keypoint count, a colour table of the wrong length) would end in a
traceback, or worse, flip keypoints silently wrong. :func:`checked_meta`
validates every entry MMPose uses against the keypoint count of the config
and keeps only those entries, so nothing else reaches the pipeline.
"""
import numpy as np

from ...errors import UserError


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def _indices(value, num, length=None, width=None, most=None):
    """A problem with a sequence of keypoint indices (or of index pairs of
    ``width``), or None."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return f'is a {type(value).__name__}, not a list'
    if length is not None and len(value) != length:
        return f'has {len(value)} entries, not {length}'
    if most is not None and len(value) > most:
        return f'has {len(value)} entries, more than {most}'
    for i, item in enumerate(value):
        items = [item]
        if width:
            if (not isinstance(item, (list, tuple, np.ndarray))
                    or len(item) != width):
                return f'entry {i} is not a pair of keypoint indices'
            items = item
        if not all(_is_int(v) and 0 <= v < num for v in items):
            return f'entry {i} is not a keypoint index in [0, {num})'
    return None


def _numbers(value, rows, cols=None, high=np.inf, optional=False):
    """A problem with an array of ``rows`` (x ``cols``) finite numbers in
    [0, high], or None; an ``optional`` one may be empty."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return f'is a {type(value).__name__}, not an array'
    if len(value) == 0 and (optional or rows == 0):
        return None
    if len(value) != rows:
        return f'has {len(value)} rows, not {rows}'
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return 'holds something other than numbers'
    shape = (rows, ) if cols is None else (rows, cols)
    if arr.shape != shape:
        return f'has shape {arr.shape}, not {shape}'
    if not (np.isfinite(arr).all() and (arr >= 0).all()
            and (arr <= high).all()):
        return f'holds values outside [0, {high:g}] or NaN'
    return None


def _mapping(value, num, names_to_ids):
    if not isinstance(value, dict):
        return f'is a {type(value).__name__}, not a dict'
    for key, item in value.items():
        idx, name = (item, key) if names_to_ids else (key, item)
        if not (_is_int(idx) and 0 <= idx < num and isinstance(name, str)):
            return (f'maps {type(key).__name__} to {type(item).__name__}, '
                    'not keypoint names and indices')
    return None


def _problem(key, value, num, meta):
    """What is wrong with ``meta[key]`` for ``num`` keypoints, or None."""
    links = meta.get('skeleton_links', [])
    nlinks = len(links) if isinstance(links, (list, tuple)) else 0
    if key == 'dataset_name':
        return None if isinstance(value, str) else 'is not a string'
    if key == 'num_keypoints':
        return None if _is_int(value) and value == num else (
            f'is {value if _is_int(value) else type(value).__name__}, not '
            f'{num}')
    if key == 'num_skeleton_links':
        return None if _is_int(value) and value == nlinks else (
            f'is not the number of skeleton_links ({nlinks})')
    if key == 'flip_indices':
        return _indices(value, num, length=num)
    if key in ('upper_body_ids', 'lower_body_ids'):
        return _indices(value, num, most=num)
    if key in ('flip_pairs', 'skeleton_links'):
        return _indices(value, num, width=2, most=num * num)
    if key == 'keypoint_colors':
        return _numbers(value, num, 3, high=255)
    if key == 'skeleton_link_colors':
        return _numbers(value, nlinks, 3, high=255)
    if key in ('dataset_keypoint_weights', 'sigmas'):
        return _numbers(value, num, optional=True)
    if key == 'keypoint_id2name':
        return _mapping(value, num, names_to_ids=False)
    if key == 'keypoint_name2id':
        return _mapping(value, num, names_to_ids=True)
    if key == 'stats_info':
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, np.ndarray)
                and v.size <= 4 * num and np.isfinite(v).all()
                for k, v in value.items()):
            return 'is not a dict of finite arrays'
    return None


KEYS = ('dataset_name', 'num_keypoints', 'keypoint_id2name',
        'keypoint_name2id', 'upper_body_ids', 'lower_body_ids',
        'flip_indices', 'flip_pairs', 'keypoint_colors',
        'num_skeleton_links', 'skeleton_links', 'skeleton_link_colors',
        'dataset_keypoint_weights', 'sigmas', 'stats_info')


def checked_meta(ckpt, num_keypoints, path):
    """The checkpoint's ``meta.dataset_meta``, validated for a model of
    ``num_keypoints``, with only the entries MMPose uses; None if it has
    none.

    Raises:
        UserError: one line naming the entry and what is wrong with it.
    """
    meta = ckpt.get('meta', {})
    if not isinstance(meta, dict):
        raise UserError(f'checkpoint {path} has a meta entry that is a '
                        f'{type(meta).__name__}, not a dict; strip it or '
                        'pass the checkpoint MMEngine wrote')
    dataset_meta = meta.get('dataset_meta')
    if dataset_meta is None:
        return None
    if not isinstance(dataset_meta, dict):
        raise UserError(f'checkpoint {path} has a meta.dataset_meta that is '
                        f'a {type(dataset_meta).__name__}, not a dict')
    for key in KEYS:
        if key not in dataset_meta:
            continue
        problem = _problem(key, dataset_meta[key], num_keypoints,
                           dataset_meta)
        if problem:
            raise UserError(
                f'checkpoint {path}: meta.dataset_meta.{key} {problem}, so '
                f'it does not describe the {num_keypoints} keypoints of this '
                'config; pass the config the checkpoint was trained with, '
                'or a checkpoint of this config')
    return {k: dataset_meta[k] for k in KEYS if k in dataset_meta}
