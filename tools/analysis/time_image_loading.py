"""Images per second of a config's training pipeline, with MMPose's
``LoadImage`` and with our ``LoadCheckedImage``, at several worker counts.

    python tools/analysis/time_image_loading.py CONFIG [--images 320]
        [--workers 0 2] [--cfg-options ...]

Builds the config's training dataset twice, differing only in the loading
step, and times a ``DataLoader`` (batches of the config's size) over the
first ``--images`` samples, in turns, ``--rounds`` times; prints images per
second of each and the checked loader's overhead in percent, the best
round of each (the least disturbed by other jobs on the machine).
"""
import copy
import os
import time

if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS

import hih_plugin  # noqa: F401  registers LoadCheckedImage
from hih_plugin.cli import (ArgumentParser, add_cfg_options, cli_main,
                            load_config, number)
from hih_plugin.errors import UserError


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--images', type=number(int, 1, 100000), default=320)
    parser.add_argument('--workers', type=number(int, 0, 64), nargs='+',
                        default=[0, 2])
    parser.add_argument('--rounds', type=number(int, 1, 20), default=3)
    add_cfg_options(parser)
    return parser.parse_args()


def loader(cfg, load_type, workers, images):
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    steps = [dict(s) for s in dataset.pipeline]
    if steps[0].get('type') not in ('LoadImage', 'LoadCheckedImage'):
        raise UserError('the training pipeline does not start with '
                        'LoadImage; nothing to compare')
    steps[0]['type'] = load_type
    dataset.pipeline = steps
    ds = DATASETS.build(dataset)
    subset = torch.utils.data.Subset(ds, range(min(images, len(ds))))
    return torch.utils.data.DataLoader(
        subset, batch_size=cfg.train_dataloader.batch_size,
        num_workers=workers, collate_fn=pseudo_collate)


def images_per_second(data):
    start, n = time.perf_counter(), 0
    for batch in data:
        n += len(batch['inputs'])
    return n / (time.perf_counter() - start)


@cli_main
def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope('mmpose')
    torch.set_num_threads(1)
    for workers in args.workers:
        best = {}
        for _ in range(args.rounds):
            for load_type in ('LoadImage', 'LoadCheckedImage'):
                rate = images_per_second(loader(cfg, load_type, workers,
                                                args.images))
                best[load_type] = max(best.get(load_type, 0.), rate)
        plain, checked = best['LoadImage'], best['LoadCheckedImage']
        print(f'{workers} worker(s): LoadImage {plain:.1f} images/s, '
              f'LoadCheckedImage {checked:.1f} images/s, overhead '
              f'{100 * (plain / checked - 1):.1f}%', flush=True)


if __name__ == '__main__':
    main()
