"""Write a small synthetic landmark dataset in WFLW's, COCO's or MPII's format.

``--dataset wflw`` (the default): each image holds one procedurally drawn face
(jaw contour, brows, nose, eyes with pupils, lips) under a random pose, scale,
aspect and expression. The 98 landmarks follow WFLW's layout and flip pairs
(MMPose's ``configs/_base_/datasets/wflw.py``), and every drawn structure is
drawn *from* the landmarks with sub-pixel, anti-aliased strokes, so the ground
truth is where the image says it is. The layout mirrors WFLW's, so the stock
WFLW configs read it with only ``data_root`` changed::

    <out-dir>/annotations/face_landmarks_wflw_train.json
    <out-dir>/annotations/face_landmarks_wflw_test.json
    <out-dir>/images/{train,test}/000000.png ...

``--dataset coco`` and ``--dataset mpii``: images of one to three stick
figures, with their 17 COCO keypoints or 16 MPII joints, in MMPose's layouts
(``data/coco/``: ``annotations/person_keypoints_{train,val}2017.json``,
``{train,val}2017/`` and person detections in
``person_detection_results/COCO_val2017_detections_AP_H_56_person.json``;
``data/mpii/``: ``annotations/mpii_{train,val}.json``, ``images/`` and the
head boxes of the validation people in ``annotations/mpii_gt_val.mat``).

It stands in for the real data in the quick start and the tests; it says
nothing about accuracy on real images.
"""
import os
import os.path as osp

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np

from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.args import check_folder
from hih_plugin.testing import make_split, write_people

# MMPose's layouts (the stock configs' data_root, ann_file, data_prefix and
# the box files they name relative to the working directory)
LAYOUTS = {
    'coco': dict(train=('annotations/person_keypoints_train2017.json',
                        'train2017/', None),
                 test=('annotations/person_keypoints_val2017.json',
                       'val2017/', 'person_detection_results/'
                       'COCO_val2017_detections_AP_H_56_person.json')),
    'mpii': dict(train=('annotations/mpii_train.json', 'images/', None),
                 test=('annotations/mpii_val.json', 'images/',
                       'annotations/mpii_gt_val.mat')),
}


def parse_args():
    parser = ArgumentParser(
        description='Write a small synthetic dataset in the format of WFLW '
        '(98 face landmarks), COCO (17 body keypoints, with person '
        'detections) or MPII (16 joints, with head boxes)')
    parser.add_argument('--dataset', choices=('wflw', 'coco', 'mpii'),
                        default='wflw')
    parser.add_argument('--out-dir', help='default: data/demo_<dataset>')
    parser.add_argument('--num-train', type=number(int, 1, 100_000),
                        default=200, help='images of the training split')
    parser.add_argument('--num-test', type=number(int, 1, 100_000),
                        default=20, help='images of the test split')
    parser.add_argument('--image-size', type=number(int, 32, 4096),
                        default=256,
                        help='image side (faces) or height (people)')
    parser.add_argument('--seed', type=number(int, 0, 2**32 - 1), default=0)
    return parser.parse_args()


@cli_main
def main():
    args = parse_args()
    out_dir = args.out_dir or f'data/demo_{args.dataset}'
    check_folder(out_dir, '--out-dir')
    rng = np.random.default_rng(args.seed)
    if args.dataset == 'wflw':
        train = make_split(out_dir, 'train', args.num_train,
                           args.image_size, rng, first_id=0)
        test = make_split(out_dir, 'test', args.num_test, args.image_size,
                          rng, first_id=args.num_train)
        print(f'wrote {args.num_train} train and {args.num_test} test '
              f'faces: {train}, {test}')
        return
    counts, files = {}, []
    for split, num, first_id in (('train', args.num_train, 1),
                                 ('test', args.num_test,
                                  args.num_train + 1)):
        ann, prefix, extra = LAYOUTS[args.dataset][split]
        extra = extra and osp.join(out_dir, extra)
        counts[split] = write_people(
            out_dir, args.dataset, split, num, args.image_size, rng,
            first_id, prefix, osp.join(out_dir, ann), extra)
        files += [osp.join(out_dir, ann)] + ([extra] if extra else [])
    box_key = 'bbox_file' if args.dataset == 'coco' else 'headbox_file'
    print(f'wrote {counts["train"]} train and {counts["test"]} test people '
          f'in {args.num_train} + {args.num_test} images: '
          f'{", ".join(files)}\n'
          f'the stock configs name the {box_key} relative to the working '
          f'directory: set {{val,test}}_dataloader.dataset.{box_key}='
          f'{files[-1]}')


if __name__ == '__main__':
    main()
