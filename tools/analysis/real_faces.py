"""Real face photographs for subpixel_benchmark.py's ``photos`` regime.

The photographs are a 300-W style folder (``image_XXXX.jpg`` beside its
68-point ``.pts``), such as LFPW's training set. It is split by the fixed
lists in ``tools/dataset_converters/splits/``, each converted to MMPose's
JSON by ``tools/dataset_converters/face300w_to_coco.py`` and read back by
MMPose's ``Face300WDataset``, as a training config reads it.

Decoding photographs of up to 2100 px for every step would cost more than
the small model does, so each face is read once and kept in memory as a
similarity-transformed square around its box: ``CACHE_SPAN`` times the
box's longer side, ``CACHE_SCALE`` times the model's input size wide. The
crop keeps the margin that MMPose's augmentation reaches into (padding 1.25,
scale up to 1.25, rotation up to 30 degrees) and a similarity transform
leaves the inter-ocular NME unchanged. Training augments as MMPose's face
configs do: horizontal flip with 300-W's flip pairs, rotation, scaling and
shift (``RandomBBoxTransform``).
"""
import os.path as osp
import subprocess
import sys
import tempfile

import numpy as np

from hih_plugin.datasets.face_crop import face_crop
from hih_plugin.errors import UserError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPLITS = osp.join(ROOT, 'tools', 'dataset_converters', 'splits')
CONVERTER = osp.join(ROOT, 'tools', 'dataset_converters',
                     'face300w_to_coco.py')
# Where the photographs are by default: data/ of the repository (a copy or
# a link to the LFPW training set of 300-W); --photos names another folder.
DEFAULT_PHOTOS = osp.join('data', 'lfpw_68', 'trainset')
EYES = (36, 45)  # 300-W's outer eye corners, the inter-ocular distance
CACHE_SPAN, CACHE_SCALE = 2.5, 2
# 300-W's 68 landmarks by part, for the error split.
PARTS = dict(jaw=range(0, 17), brows=range(17, 27), nose=range(27, 36),
             eyes=range(36, 48), mouth=range(48, 68))
# Head turn, as the nose tip's offset from the middle of the jaw's ends
# over their distance: about 0 for a frontal face, 0.5 in profile.
POSE_BINS = ((0., 0.1, 'frontal'), (0.1, 0.2, 'turned'),
             (0.2, np.inf, 'strongly turned'))


def augmentations():
    """MMPose's training augmentation of its face configs, between
    ``GetBBoxCenterScale`` and ``TopdownAffine``."""
    from mmpose.datasets.transforms import RandomBBoxTransform, RandomFlip
    return [RandomFlip(direction='horizontal'),
            RandomBBoxTransform(shift_factor=0.1, shift_prob=0.5,
                                scale_factor=(0.75, 1.25), scale_prob=1.0,
                                rotate_factor=30, rotate_prob=0.6)]


def missing_reason(photos):
    """Why the regime cannot run with ``photos``, or None if it can."""
    if not osp.isdir(photos):
        return (f'no photographs at {photos}: point --photos at a 300-W '
                'style folder (image_XXXX.jpg beside image_XXXX.pts), such '
                'as the LFPW training set')
    return None


def convert(photos, split, out_dir, split_dir=SPLITS):
    """The split's JSON, written by the project's 300-W converter from the
    list ``lfpw_68_<split>.txt`` in ``split_dir``."""
    out = osp.abspath(osp.join(out_dir, f'lfpw_68_{split}.json'))
    proc = subprocess.run(
        [sys.executable, CONVERTER, photos, out, '--list',
         osp.join(split_dir, f'lfpw_68_{split}.txt')],
        capture_output=True, text=True)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
        raise UserError(f'converting {photos} ({split} list) failed: {last}')
    return out


def read_split(photos, ann_file):
    """Data infos of ``Face300WDataset`` and its flip indices."""
    from mmpose.datasets import Face300WDataset
    ds = Face300WDataset(ann_file=ann_file, data_root=photos,
                         data_prefix=dict(img=''), data_mode='topdown',
                         test_mode=True, pipeline=[])
    return ([ds.get_data_info(i) for i in range(len(ds))],
            list(ds.metainfo['flip_indices']))


def crop(info, size):
    """The face of ``info`` as a ``size`` x ``size`` similarity-transformed
    square, with its landmarks (68, 2) and box (4, ) in that square."""
    import cv2

    from hih_plugin.cli.checks.data import image_problem
    problem = image_problem(info['img_path'])  # never blocks on a FIFO
    img = None if problem else cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f'cannot read {info["img_path"]}'
                        f'{f": it {problem}" if problem else ""}')
    box = info['bbox'][0]
    out, (unit, t) = face_crop(img, box, size, CACHE_SPAN)
    return out, info['keypoints'][0] * unit + t, box * unit + np.tile(t, 2)


def make_data(photos, input_size, split_dir=SPLITS):
    """``(train, val)``, each ``(images, landmarks, boxes)``, and the flip
    indices; the split lists' faces cropped for ``input_size``. The
    converted JSON lives in a temporary folder only: it carries the
    annotations' licence, and the results folder is meant to be shared."""
    reason = missing_reason(photos)
    if reason:
        raise UserError(reason)
    out, flip = [], None
    for split in ('train', 'val'):
        with tempfile.TemporaryDirectory() as tmp:
            infos, flip = read_split(
                photos, convert(photos, split, tmp, split_dir))
        faces = [crop(info, CACHE_SCALE * input_size) for info in infos]
        out.append(tuple(np.stack(a) for a in zip(*faces)))
    return out[0], out[1], flip


def head_turn(kpts):
    """Per face (N, ), the head-turn measure of ``POSE_BINS``."""
    mid = 0.5 * (kpts[:, 0] + kpts[:, 16])
    width = np.linalg.norm(kpts[:, 16] - kpts[:, 0], axis=-1)
    return np.abs(kpts[:, 30, 0] - mid[:, 0]) / np.maximum(width, 1e-6)


def face_split(nme, gt):
    """NME (N, K) per part of the face and per head turn, and FR@8: the
    share of faces whose mean NME is above 8%."""
    out = {f'nme_{part}': float(nme[:, list(idx)].mean())
           for part, idx in PARTS.items()}
    per_face = nme.mean(1)
    turn = head_turn(gt)
    for low, high, name in POSE_BINS:
        sel = (turn >= low) & (turn < high)
        key = 'nme_' + name.replace(' ', '_')
        out[key] = float(per_face[sel].mean()) if sel.any() else float('nan')
        out[key.replace('nme_', 'faces_')] = int(sel.sum())
    out['fr8_percent'] = 100. * float((per_face > 8.).mean())
    return out
