"""Convert WFLW's official annotation list to the JSON of MMPose's
``WFLWDataset``, with the attribute subsets ``tools/analysis/face_eval.py``
tests on.

    python tools/dataset_converters/wflw_to_coco.py LIST.txt WFLW_images \
        data/wflw/annotations/face_landmarks_wflw_test.json --subsets

where LIST.txt is WFLW's ``list_98pt_rect_attr_test.txt`` (or ``_train``),
in ``WFLW_annotations/list_98pt_rect_attr_train_test/``.

Each line of ``list_98pt_rect_attr_{train,test}.txt`` is one face: 196
coordinates (98 points, x y), the detection rectangle (4 numbers), six 0/1
attributes (pose, expression, illumination, make-up, occlusion, blur) and
the image's path relative to ``WFLW_images``. WFLW's coordinates count
pixels from 0, as MMPose does: they are written as they are. As in MMPose's
WFLW files, a face's box is the box of its landmarks (the detection
rectangle is not used; ``hih_plugin.datasets.face_records``). Faces of one
image share one image entry.

With ``--subsets``, the faces with each attribute go to
``<OUT stem>_{largepose,expression,illumination,makeup,occlusion,blur}.json``
beside ``OUT.json``, the names ``face_eval.py`` reads.

A line with another number of fields, a value that is not a number, a
coordinate that is not finite, an attribute that is not 0 or 1, a missing or
unreadable image, or a line given twice stops the tool with one line naming
the line.
"""
import json
import math
import os.path as osp

from hih_plugin.cli import ArgumentParser, cli_main
from hih_plugin.cli.files import read_bounded
from hih_plugin.cli.outputs import check_output_file, write_text
from hih_plugin.datasets.face_records import CATEGORY, face_record, image_size
from hih_plugin.errors import UserError

POINTS = 98
FIELDS = 2 * POINTS + 4 + 6 + 1
SUBSETS = ('largepose', 'expression', 'illumination', 'makeup', 'occlusion',
           'blur')


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('list', help="WFLW's list_98pt_rect_attr_*.txt")
    parser.add_argument('images', help='the WFLW_images folder')
    parser.add_argument('out', help='the JSON to write')
    parser.add_argument('--subsets', action='store_true',
                        help='also write the six attribute subsets')
    return parser.parse_args()


def parse_line(line, where):
    """``(points, attributes, image path)`` of one line."""
    fields = line.split()
    if len(fields) != FIELDS:
        raise UserError(f'{where} has {len(fields)} fields, not {FIELDS} (98 '
                        'points, a rectangle, 6 attributes and an image '
                        'path); is this list_98pt_rect_attr_*.txt?')
    try:
        values = [float(v) for v in fields[:2 * POINTS + 4]]
        attrs = [int(v) for v in fields[2 * POINTS + 4:-1]]
    except ValueError as err:
        raise UserError(f'{where}: {err}')
    if not all(math.isfinite(v) for v in values):
        raise UserError(f'{where} holds a coordinate that is not finite')
    if any(a not in (0, 1) for a in attrs):
        raise UserError(f'{where}: the attributes {attrs} must be 0 or 1')
    points = list(zip(values[0:2 * POINTS:2], values[1:2 * POINTS:2]))
    return points, attrs, fields[-1]


@cli_main
def main():
    args = parse_args()
    if not osp.isdir(args.images):
        raise UserError(f'image folder not found: {args.images}')
    out = check_output_file(args.out, 'OUT.json')
    stem = osp.splitext(out)[0]
    if args.subsets:
        for name in SUBSETS:
            check_output_file(f'{stem}_{name}.json', '--subsets')
    text = read_bounded(args.list, 'the WFLW list', 256 << 20).decode(
        'utf-8', 'replace')
    images, faces, ids, seen = [], [], {}, {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f'{args.list} line {n}'
        if line.strip() in seen:
            raise UserError(f'{where} repeats line {seen[line.strip()]}')
        seen[line.strip()] = n
        points, attrs, name = parse_line(line, where)
        if name not in ids:
            width, height = image_size(osp.join(args.images, name))
            ids[name] = len(images) + 1
            images.append(dict(id=ids[name], file_name=name, width=width,
                               height=height))
        faces.append((face_record(points, ids[name], len(faces) + 1),
                      attrs))
    if not faces:
        raise UserError(f'{args.list} holds no face')
    outputs = [(out, faces)]
    if args.subsets:
        outputs += [(f'{stem}_{name}.json', [f for f in faces if f[1][i]])
                    for i, name in enumerate(SUBSETS)]
    for path, subset in outputs:
        used = {ann['image_id'] for ann, _ in subset}
        write_text(path, json.dumps(dict(
            images=[img for img in images if img['id'] in used],
            annotations=[ann for ann, _ in subset], categories=[CATEGORY])))
        print(f'wrote {len(subset)} faces to {path}')


if __name__ == '__main__':
    main()
