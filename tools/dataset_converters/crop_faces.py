"""Cut the faces of a COCO-style face dataset out of its photographs, once.

    python tools/dataset_converters/crop_faces.py ANN.json IMAGE_ROOT OUT_DIR
        [--size 256] [--span 2.5]

Each annotation of ``ANN.json`` (the JSON of MMPose's ``Face300WDataset``,
``WFLWDataset``, ``COFWDataset`` or ``AFLWDataset``, whose ``file_name`` is
relative to ``IMAGE_ROOT``) becomes one ``--size`` px square image in
``OUT_DIR/images/``: centred on the face's box, ``--span`` times its longer
side wide. ``OUT_DIR/<ANN.json's name>`` is the same annotation file with
the landmarks, box, ``center`` and ``scale`` mapped into the cut-outs (a
similarity transform, which changes no normalised error). Training then
decodes small images instead of whole photographs, several times faster on a
CPU. The default span keeps the margin MMPose's face augmentation reaches
into (padding 1.25, scale up to 1.25, rotation up to 30 degrees, shift up to
0.1); the default size is twice a 128 px model input.
"""
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.checks.data import image_problem
from hih_plugin.cli.files import MAX_ANNOTATION_BYTES, load_json
from hih_plugin.cli.outputs import check_output_dir, write_text
from hih_plugin.datasets.face_crop import face_crop
from hih_plugin.errors import UserError


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO-style face annotation JSON')
    parser.add_argument('image_root', help='folder its file_name are in')
    parser.add_argument('out_dir', help='where the cut-outs and JSON go')
    parser.add_argument('--size', type=number(int, 16, 2048), default=256,
                        help='side of the cut-outs in pixels (16 to 2048)')
    parser.add_argument('--span', type=number(float, 1, 8), default=2.5,
                        help='cut-out side over the box\'s longer side '
                        '(1 to 8)')
    return parser.parse_args()


def face_box(ann, where):
    """The annotation's box (x1, y1, x2, y2), checked finite and non-empty.
    """
    try:
        x, y, w, h = (float(v) for v in ann['bbox'])
    except (KeyError, TypeError, ValueError):
        raise UserError(f'{where}: bbox is not four numbers [x, y, w, h]')
    if not (np.isfinite([x, y, w, h]).all() and max(w, h) > 0):
        raise UserError(f'{where}: bbox {ann["bbox"]} is empty or not '
                        'finite; fix or remove the annotation')
    return np.array([x, y, x + w, y + h])


def mapped(ann, unit, t, name_id):
    """The annotation in the cut-out's frame."""
    out = dict(ann, image_id=name_id)
    kpts = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
    kpts[:, :2] = kpts[:, :2] * unit + t
    out['keypoints'] = np.round(kpts, 3).ravel().tolist()
    x, y, w, h = ann['bbox']
    out['bbox'] = [*np.round(np.array([x, y]) * unit + t, 3).tolist(),
                   round(w * unit, 3), round(h * unit, 3)]
    if 'area' in ann:
        out['area'] = round(float(ann['area']) * unit**2, 3)
    if 'center' in ann:
        out['center'] = np.round(np.asarray(ann['center'], float) * unit +
                                 t, 3).tolist()
    for key in ('scale', 'box_size'):  # lengths: scaled, not shifted
        if key in ann:
            out[key] = round(float(ann[key]) * unit, 5)
    return out


@cli_main
def main():
    args = parse_args()
    data = load_json(args.ann_file, 'annotation file', MAX_ANNOTATION_BYTES)
    try:
        images = {img['id']: img for img in data['images']}
        anns = data['annotations']
    except (KeyError, TypeError) as err:
        raise UserError(f'{args.ann_file} is not a COCO-style JSON with '
                        f'images and annotations ({err})')
    out_dir = check_output_dir(args.out_dir, 'OUT_DIR')
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    new_images, new_anns, cache = [], [], {}
    for n, ann in enumerate(anns, 1):
        where = f'{args.ann_file}: annotation {ann.get("id", n)}'
        img_info = images.get(ann.get('image_id'))
        if img_info is None:
            raise UserError(f'{where}: its image_id is not in images')
        path = osp.join(args.image_root, img_info['file_name'])
        if path not in cache:  # faces of one photo come one after another
            # a FIFO would block imread, a huge file fill the memory
            problem = image_problem(path)
            cache = {path: None if problem else cv2.imread(
                path, cv2.IMREAD_COLOR)}
        img = cache[path]
        if img is None:
            raise UserError(f'{where}: cannot read the image {path}'
                            f'{f" (it {problem})" if problem else ""}')
        crop, (unit, t) = face_crop(img, face_box(ann, where), args.size,
                                    args.span)
        stem = osp.splitext(img_info['file_name'])[0].replace(os.sep, '_')
        name = f'{stem}_{ann.get("id", n)}.jpg'
        if not cv2.imwrite(osp.join(out_dir, 'images', name), crop,
                           [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise UserError(f'cannot write {name} into {out_dir}/images')
        new_images.append(dict(id=n, file_name=name, height=args.size,
                               width=args.size))
        new_anns.append(mapped(ann, unit, t, n))
        print(f'\r{n}/{len(anns)} faces', end='', file=sys.stderr)
    print(file=sys.stderr)
    out = osp.join(out_dir, osp.basename(args.ann_file))
    write_text(out, json.dumps(dict(data, images=new_images,
                                    annotations=new_anns)))
    print(f'wrote {len(new_anns)} faces to {out_dir}/images and {out}')


if __name__ == '__main__':
    main()
