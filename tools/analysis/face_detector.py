"""Which face detector the demo uses, measured on real photographs.

    python tools/analysis/face_detector.py [--photos data/lfpw_68/trainset] \
        [--config CONFIG --checkpoint CKPT] [--out-dir DIR]

Runs each frontal-face Haar cascade that OpenCV's wheel ships over the LFPW
photographs (``real_faces.py``: the fixed train and validation lists, read
through the 300-W converter and ``Face300WDataset``). A detection finds a
face when the face's landmark centre lies inside it and its side is within
half to twice the landmark box's. On the training list it fits the mapping
from a detection to the landmark square (median centre offset and size
ratio, ``hih_plugin.apis.face_detection``); on the validation list it
reports the share of faces found, the detections that are no annotated face
(per photo; LFPW annotates one face a photo, so some are real faces), and
the time per photo. With a pose model, it also gives the model's NME on the
validation faces with the annotated boxes and with the mapped detections,
so that the whole pipeline's cost of detecting is known, and with the
mapped detections boxed again around the landmarks found (``--passes``).
"""
import json
import os
import os.path as osp
import sys
import tempfile
import time

if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import cv2
import numpy as np

from hih_plugin.apis import HaarFaceDetector
from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.outputs import check_output_dir, write_text
from hih_plugin.errors import UserError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
import real_faces  # noqa: E402  # isort:skip

CASCADES = ('haarcascade_frontalface_default.xml',
            'haarcascade_frontalface_alt.xml',
            'haarcascade_frontalface_alt2.xml')


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--photos', default=real_faces.DEFAULT_PHOTOS)
    parser.add_argument('--photo-splits', default=real_faces.SPLITS)
    parser.add_argument('--cascades', nargs='+', default=list(CASCADES))
    parser.add_argument('--config', help='pose model config (optional)')
    parser.add_argument('--checkpoint', help='its checkpoint')
    parser.add_argument('--passes', nargs='+', type=number(int, 2),
                        default=[2, 3],
                        help='passes of boxing again to measure (the '
                        'first pass is the detection\'s box)')
    parser.add_argument('--out-dir', default='work_dirs/face_detector')
    args = parser.parse_args()
    if bool(args.config) != bool(args.checkpoint):
        raise UserError('--config and --checkpoint go together')
    reason = real_faces.missing_reason(args.photos)
    if reason:
        raise UserError(reason)
    return args


def faces(args, split):
    """``(image path, landmark square (cx, cy, side), keypoints)`` of the
    split's faces."""
    with tempfile.TemporaryDirectory() as tmp:
        infos, _ = real_faces.read_split(args.photos, real_faces.convert(
            args.photos, split, tmp, args.photo_splits))
    out = []
    for info in infos:
        x1, y1, x2, y2 = info['bbox'][0]
        out.append((info['img_path'],
                    np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1]),
                    info['keypoints'][0]))
    return out


def match(detections, square):
    """The detection (x, y, w, h) that finds the face, or None."""
    cx, cy, side = square
    best = None
    for x, y, w, h in detections:
        inside = x <= cx <= x + w and y <= cy <= y + h
        if inside and 0.5 <= w / side <= 2:
            d = np.hypot(x + w / 2 - cx, y + h / 2 - cy)
            if best is None or d < best[0]:
                best = (d, np.array([x, y, w, h]))
    return None if best is None else best[1]


def run_cascade(detector, split_faces):
    """Per face: the matched detection or None; unmatched detections and
    seconds per photo."""
    matched, extra, seconds = [], 0, 0.
    for path, square, _ in split_faces:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f'cannot read {path}')
        t0 = time.perf_counter()
        dets = detector.detect(img)
        seconds += time.perf_counter() - t0
        m = match(dets, square)
        matched.append(m)
        extra += len(dets) - (m is not None)
    return matched, extra / len(split_faces), seconds / len(split_faces)


def fit_mapping(matched, split_faces):
    """Median (cx, cy, side) of landmark square over detection."""
    rows = [((sq[0] - m[0]) / m[2], (sq[1] - m[1]) / m[3], sq[2] / m[2])
            for m, (_, sq, _) in zip(matched, split_faces) if m is not None]
    if not rows:
        raise UserError('no face found on the training list; nothing to fit')
    return tuple(float(v) for v in np.median(np.array(rows), 0))


def pose_nme(args, val, boxes, passes=1):
    """Mean inter-ocular NME (%) of the pose model on the faces with these
    boxes (x1, y1, x2, y2; None skips a face), after ``passes`` of
    :func:`rebox_topdown`."""
    from mmpose.apis import init_model

    from hih_plugin.apis import rebox_topdown
    from hih_plugin.checkpoint import enable_safe_loader
    from hih_plugin.cli.checks.model import load_checkpoint_strict
    enable_safe_loader()
    model = init_model(args.config, None, device='cpu')
    load_checkpoint_strict(model, args.checkpoint)
    a, b = real_faces.EYES
    nmes = []
    for (path, _, kpts), box in zip(val, boxes):
        if box is None:
            continue
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        pred = rebox_topdown(model, img, np.asarray(box)[None], passes)
        pred = pred[0].pred_instances.keypoints[0]
        nmes.append(np.linalg.norm(pred - kpts, axis=-1).mean() /
                    np.linalg.norm(kpts[a] - kpts[b]))
    return 100. * float(np.mean(nmes)), len(nmes)


def square_box(square):
    cx, cy, side = square
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


@cli_main
def main():
    args = parse_args()
    out_dir = check_output_dir(args.out_dir)
    train, val = faces(args, 'train'), faces(args, 'val')
    rows = []
    for cascade in args.cascades:
        detector = HaarFaceDetector(cascade)
        mapping = fit_mapping(run_cascade(detector, train)[0], train)
        matched, extra, seconds = run_cascade(detector, val)
        rows.append(dict(
            cascade=cascade, mapping=mapping,
            found_percent=100. * np.mean([m is not None for m in matched]),
            extra_per_photo=extra, ms_per_photo=1000. * seconds))
        rows[-1]['_matched'] = matched
        print(f'{cascade}: {rows[-1]["found_percent"]:.1f}% of the '
              f'validation faces found, {extra:.2f} other detections a '
              f'photo, {1000 * seconds:.0f} ms a photo; mapping (cx, cy, '
              f'side) {", ".join(f"{v:.3f}" for v in mapping)}', flush=True)
    best = max(rows, key=lambda r: (r['found_percent'],
                                    -r['extra_per_photo']))
    if args.config:
        detector = HaarFaceDetector(best['cascade'], mapping=best['mapping'])
        mapped = [None if m is None else detector.landmark_boxes(m[None])[0]
                  for m in best['_matched']]
        gt = [square_box(sq) for _, sq, _ in val]
        best['nme_annotated_boxes'] = pose_nme(args, val, gt)
        best['nme_found_annotated'] = pose_nme(
            args, val, [g if m is not None else None
                        for g, m in zip(gt, mapped)])
        best['nme_found_detected'] = pose_nme(args, val, mapped)
        best['nme_found_reboxed'] = {
            n: pose_nme(args, val, mapped, n)[0] for n in args.passes}
    for r in rows:
        del r['_matched']
    lines = ['| cascade | faces found (%) | other detections a photo | '
             'ms a photo | mapping cx, cy, side |', '| --- ' * 5 + '|']
    lines += [f'| {r["cascade"]} | {r["found_percent"]:.1f} | '
              f'{r["extra_per_photo"]:.2f} | {r["ms_per_photo"]:.0f} | '
              + ', '.join(f'{v:.3f}' for v in r['mapping']) + ' |'
              for r in rows]
    if args.config:
        (all_nme, n_all), (gt_nme, n), (det_nme, _) = (
            best['nme_annotated_boxes'], best['nme_found_annotated'],
            best['nme_found_detected'])
        lines += ['', f'{best["cascade"]} with {osp.basename(args.config)}: '
                  f'NME {all_nme:.2f}% on all {n_all} validation faces with '
                  f'the annotated boxes; on the {n} it finds, {gt_nme:.2f}% '
                  f'with the annotated boxes and {det_nme:.2f}% with its '
                  'own; with its own boxed again around the landmarks found, '
                  + ', '.join(f'{v:.2f}% after {n} passes' for n, v in
                              best['nme_found_reboxed'].items()) + '.']
    command = 'python ' + ' '.join([osp.relpath(sys.argv[0])] + sys.argv[1:])
    text = '\n'.join(lines) + f'\n\n{len(val)} validation photos; ' \
        f'`{command}`\n'
    print(text)
    write_text(osp.join(out_dir, 'results.md'), text)
    write_text(osp.join(out_dir, 'results.json'),
               json.dumps(dict(rows=rows, command=command), indent=1))


if __name__ == '__main__':
    main()
