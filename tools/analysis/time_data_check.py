"""Time the pre-run data check on a COCO-sized dataset, drawn synthetically.

    python tools/analysis/time_data_check.py [--images 118287]
        [--annotations 149813] [--keep DIR]

Writes, in a temporary folder, a COCO keypoint annotation file with the
counts of COCO train2017's person keypoints (118287 images, 149813
annotations of 17 keypoints) and one small JPEG per image, then times
``check_dataset_content`` of ``configs/hih_coco.py``'s train split on it,
as ``tools/train.py`` runs it before training: reading the JSON, the
annotation checks, and the per-image checks (stat, signature, end marker,
declared size). Prints the seconds of each part.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import cv2
import numpy as np
from mmengine.config import Config

import hih_plugin  # noqa: F401  registers our parts
from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.checks.data import check_dataset_content, load_json

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def synthesize(folder, num_images, num_anns, rng):
    os.makedirs(osp.join(folder, 'images'))
    ok, jpeg = cv2.imencode('.jpg', rng.integers(0, 255, (48, 64, 3),
                                                 dtype=np.uint8))
    jpeg = jpeg.tobytes()
    images = []
    for i in range(num_images):
        name = f'{i:012d}.jpg'
        with open(osp.join(folder, 'images', name), 'wb') as f:
            f.write(jpeg)
        images.append(dict(id=i, file_name=name, width=640, height=480))
    owners = rng.integers(0, num_images, num_anns)
    kpts = rng.uniform(0, 480, (num_anns, 17, 3)).round(2)
    kpts[:, :, 2] = rng.integers(0, 3, (num_anns, 17))
    anns = [dict(id=i, image_id=int(owners[i]), category_id=1, iscrowd=0,
                 num_keypoints=17, area=100.0,
                 bbox=[10.0, 10.0, 100.0, 200.0],
                 keypoints=kpts[i].reshape(-1).tolist())
            for i in range(num_anns)]
    path = osp.join(folder, 'train.json')
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='person')]), f)
    return path


@cli_main
def main():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=number(int, 1, 10**7),
                        default=118287)
    parser.add_argument('--annotations', type=number(int, 1, 10**7),
                        default=149813)
    parser.add_argument('--keep', help='write the dataset here and keep it')
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix='coco-sized-')
    try:
        start = time.perf_counter()
        path = synthesize(folder, args.images, args.annotations,
                          np.random.default_rng(0))
        made = time.perf_counter() - start
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hih_coco.py'))
        cfg.train_dataloader.dataset.update(
            data_root=folder, ann_file='train.json',
            data_prefix=dict(img='images/'))
        start = time.perf_counter()
        load_json(path, 'ann_file')
        json_s = time.perf_counter() - start
        start = time.perf_counter()
        check_dataset_content(cfg, ('train', ))
        total = time.perf_counter() - start
        print(json.dumps(dict(
            images=args.images, annotations=args.annotations,
            annotation_mib=round(osp.getsize(path) / 2**20, 1),
            synthesize_s=round(made, 1), json_load_s=round(json_s, 2),
            check_total_s=round(total, 2)), indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(folder)


if __name__ == '__main__':
    main()
