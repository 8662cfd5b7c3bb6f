"""Convert 300-W style folders (an image beside each ``.pts``) to the JSON
that MMPose's ``Face300WDataset`` reads.

    python tools/dataset_converters/face300w_to_coco.py FOLDER OUT.json \
        [--list NAMES.txt] [--num-points 68]

300-W and the sets it re-annotated (LFPW, HELEN, AFW, iBUG, 300W indoor and
outdoor) ship ``NAME.jpg`` or ``NAME.png`` beside ``NAME.pts``, in any
subfolders of ``FOLDER``. Each pair becomes one image and one face; the
image's ``file_name`` is relative to ``FOLDER``, so the dataset's
``data_root`` (or ``data_prefix.img``) is ``FOLDER``. ``--list`` keeps only
the names it lists, one a line, each a path relative to ``FOLDER`` without
its extension (``image_0001`` or ``lfpw/trainset/image_0001``), in the list's
order.

Conventions:

- **Coordinates.** A ``.pts`` file counts pixels from 1, as Matlab does (the
  first pixel's centre is at 1); MMPose counts them from 0. Every coordinate
  is written minus 1.
- **Box and scale.** As in MMPose's 300-W files, each face's box is the box
  of its landmarks, ``scale`` its longer side / 200
  (``hih_plugin.datasets.face_records``).

Bad input stops the tool with one line naming the file: a ``.pts`` that is
damaged (no braces, a line that is not two numbers), that holds another
number of points than ``--num-points`` or than its ``n_points`` header, or
a coordinate that is not finite; a ``.pts`` without an image, or an image
that cannot be read; a name listed twice, a listed name that is missing,
or two images with one name.
"""
import json
import math
import os
import os.path as osp

from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.files import read_bounded
from hih_plugin.cli.outputs import check_output_file, write_text
from hih_plugin.datasets.face_records import CATEGORY, face_record, image_size
from hih_plugin.errors import UserError

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')
MAX_PTS_BYTES = 1 << 20  # a 68-point file is about 1.5 KiB


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder', help='300-W style folder (image + .pts)')
    parser.add_argument('out', help='the JSON to write')
    parser.add_argument('--list', help='names to keep, one a line')
    parser.add_argument('--num-points', type=number(int, 1, 10000),
                        default=68, help='points per face (68 in 300-W)')
    return parser.parse_args()


def read_pts(path, num_points):
    """The points of a ``.pts`` file, 0-based, as a list of (x, y)."""
    text = read_bounded(path, 'the .pts file', MAX_PTS_BYTES).decode(
        'utf-8', 'replace')
    head, brace, rest = text.partition('{')
    body, close, _ = rest.partition('}')
    if not brace or not close:
        raise UserError(f'{path} is damaged: no {{ ... }} around its points')
    header = dict(line.split(':', 1) for line in head.splitlines()
                  if ':' in line)
    points = []
    for n, line in enumerate(body.strip().splitlines(), 1):
        try:
            x, y = (float(v) for v in line.split())
        except ValueError:
            raise UserError(f'{path} is damaged: point {n} is {line!r}, '
                            'not two numbers')
        if not (math.isfinite(x) and math.isfinite(y)):
            raise UserError(f'{path}: point {n} is ({x}, {y}), not finite')
        points.append((x - 1, y - 1))
    declared = header.get('n_points', '').strip()
    if declared and declared != str(len(points)):
        raise UserError(f'{path} declares n_points {declared} but holds '
                        f'{len(points)} points')
    if len(points) != num_points:
        raise UserError(f'{path} holds {len(points)} points, not '
                        f'{num_points}; pass --num-points for another '
                        'annotation scheme')
    return points


def find_pairs(folder):
    """``{name: (image path, pts path)}`` of every ``.pts`` in ``folder``,
    the name relative to it without extension."""
    pairs = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        stems = {}
        for f in files:
            stem, ext = osp.splitext(f)
            if ext.lower() in IMAGE_EXTS:
                if stem in stems:
                    raise UserError(
                        f'two images named {stem} in {root} ({stems[stem]} '
                        f'and {f}); keep one beside {stem}.pts')
                stems[stem] = f
        for f in sorted(files):
            stem, ext = osp.splitext(f)
            if ext != '.pts':
                continue
            name = osp.relpath(osp.join(root, stem), folder)
            if stem not in stems:
                exts = ', '.join(IMAGE_EXTS)
                raise UserError(f'{osp.join(root, f)} has no image beside it '
                                f'({stem} with one of {exts})')
            pairs[name] = (osp.join(root, stems[stem]), osp.join(root, f))
    return pairs


def listed(pairs, list_file, folder):
    """The names of ``list_file``, in its order, each found once."""
    text = read_bounded(list_file, '--list', 64 << 20).decode(
        'utf-8', 'replace')
    names = [osp.normpath(n.strip()) for n in text.splitlines() if n.strip()]
    seen = set()
    for name in names:
        if name in seen:
            raise UserError(f'{list_file} lists {name} twice')
        seen.add(name)
        if name not in pairs:
            raise UserError(f'{list_file} lists {name}, which {folder} does '
                            f'not hold as an image beside {name}.pts')
    return names


@cli_main
def main():
    args = parse_args()
    if not osp.isdir(args.folder):
        raise UserError(f'folder not found: {args.folder}')
    out = check_output_file(args.out, 'OUT.json')
    pairs = find_pairs(args.folder)
    if not pairs:
        raise UserError(f'{args.folder} holds no .pts file: point at a 300-W '
                        'style folder (NAME.jpg beside NAME.pts)')
    names = (listed(pairs, args.list, args.folder) if args.list else
             sorted(pairs))
    images, annotations = [], []
    for img_id, name in enumerate(names, 1):
        img_path, pts_path = pairs[name]
        points = read_pts(pts_path, args.num_points)
        width, height = image_size(img_path)
        images.append(dict(id=img_id, width=width, height=height,
                           file_name=osp.relpath(img_path, args.folder)))
        annotations.append(face_record(points, img_id, img_id))
    write_text(out, json.dumps(dict(images=images, annotations=annotations,
                                    categories=[CATEGORY])))
    print(f'wrote {len(images)} faces of {args.folder} to {args.out}')


if __name__ == '__main__':
    main()
