"""Parameters and train-step time of HIH's decimal branches on HRNetV2-W18.

Builds MMPose's stock HRNetV2-W18 WFLW model (256x256 input, 64x64 heatmaps,
``HeatmapHead``) and the same model with ``HIHHead`` in each decimal mode
(``configs/mix/hrnetv2-w18_hih_wflw.py``), and times MMEngine's
``train_step`` (forward, backward, Adam step) on the same batch of random
images with codec targets. The variants are interleaved within each repeat
and the median is reported as a ratio to ``HeatmapHead`` measured in the same
run, so load on a shared machine affects all of them alike.

Example (the run reported in docs/results.md)::

    python tools/analysis/head_cost.py --out docs/results/head_cost.json
"""
import json
import os
import os.path as osp
import sys
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import mmpose
import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401  registers HIHHead
from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.outputs import check_output_file, write_text

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
from batcher import Batcher  # noqa: E402  # isort:skip

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIX_CONFIG = osp.join(ROOT, 'configs', 'mix', 'hrnetv2-w18_hih_wflw.py')
STOCK_CONFIG = ('face_2d_keypoint/topdown_heatmap/wflw/'
                'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py')


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=number(int, 1, 4096), default=4)
    parser.add_argument('--repeats', type=number(int, 1, 1000), default=7,
                        help='timed steps per variant; the median is kept')
    parser.add_argument(
        '--threads', type=number(int, 1, 1024), default=1,
        help='torch threads; 1 by default, because idle OpenMP threads '
        'spin-wait on cores shared with other processes')
    parser.add_argument('--seed', type=number(int, 0, 2**32 - 1), default=0)
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def variants():
    """name -> (model config, codec config)."""
    mix = Config.fromfile(MIX_CONFIG)
    stock = Config.fromfile(osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', STOCK_CONFIG))
    out = {'HeatmapHead': (stock.model, stock.codec)}
    # the mix config's local read-out (3-cell bins, trained at the 3x3 cells
    # around the true one), the same at the paper's 384 channels, the
    # one-cell read-out trained at the true cell only, and the paper's global
    # branch (384 channels) on the paper's one-cell codec, with the local
    # read-out's losses so that only the branch differs; votes only change
    # the decoding
    one_cell = dict(mix.hih_codec, decimal_size=8, decimal_span=1)
    for name, head, codec in (
            ('local', {}, mix.hih_codec),
            ('local, 384 channels', dict(decimal_channels=384),
             mix.hih_codec),
            ('local, one cell',
             dict(readout_cells='truth', neighbour_votes=False), one_cell),
            ('global', dict(decimal_mode='global', readout_cells='auto',
                            neighbour_votes=False, decimal_channels=384,
                            loss=dict(type='H3RLoss', mode='bce'),
                            decimal_loss=dict(type='DistributionLoss',
                                              loss_weight=2.25)),
             one_cell)):
        model = mix.model.copy()
        model.head = dict(mix.model.head, decoder=codec, **head)
        out[f'HIHHead {name}'] = (model, codec)
    for model, _ in out.values():
        model.backbone.init_cfg = None  # timing only: no ImageNet download
    return out


def main_inner(args):
    init_default_scope('mmpose')
    MMLogger.get_instance('head_cost', log_level='WARNING')
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    size = 256
    imgs = rng.integers(0, 256, (args.batch_size, size, size, 3), np.uint8)
    kpts = rng.uniform(20, size - 20, (args.batch_size, 98, 2))
    boxes = np.tile(np.array([0, 0, size, size], np.float32),
                    (args.batch_size, 1))
    runs = {}
    for name, (model_cfg, codec) in variants().items():
        torch.manual_seed(args.seed)
        model = MODELS.build(model_cfg)
        model.init_weights()
        model.train()
        optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-4))
        batch = Batcher(size, codec)(imgs, kpts, boxes)
        model.train_step(batch, optim)  # warm-up: allocations, Adam state
        runs[name] = dict(
            model=model, optim=optim, batch=batch, times=[],
            params=sum(p.numel() for p in model.parameters()),
            head_params=sum(p.numel() for p in model.head.parameters()))
    for _ in range(args.repeats):
        for run in runs.values():
            t = time.perf_counter()
            run['model'].train_step(run['batch'], run['optim'])
            run['times'].append(time.perf_counter() - t)
    ref = runs['HeatmapHead']
    ref_t = float(np.median(ref['times']))
    rows = []
    for name, run in runs.items():
        t = float(np.median(run['times']))
        rows.append(dict(
            head=name, params=run['params'], head_params=run['head_params'],
            extra_params=run['params'] - ref['params'], step_s=t,
            ratio=t / ref_t))
    return rows


@cli_main
def main():
    args = parse_args()
    if args.out:  # before the minutes of timing
        check_output_file(args.out)
        check_output_file(osp.splitext(args.out)[0] + '.md')
    t0 = time.perf_counter()
    rows = main_inner(args)
    lines = [
        f'HRNetV2-W18, 256x256 input, 98 keypoints, batch {args.batch_size},'
        f' {args.threads} torch thread(s), median of {args.repeats} '
        f'interleaved train steps, {time.strftime("%Y-%m-%d")}, '
        f'{(time.perf_counter() - t0) / 60:.1f} min in all.', '',
        '| head | params | head params | extra params | train step (s) | '
        'x HeatmapHead |', '| --- ' * 6 + '|'
    ]
    for r in rows:
        lines.append(
            f'| {r["head"]} | {r["params"]} | {r["head_params"]} | '
            f'{r["extra_params"]} | {r["step_s"]:.3f} | {r["ratio"]:.3f} |')
    print('\n'.join(lines))
    if args.out:
        write_text(args.out, json.dumps(dict(meta=vars(args), rows=rows),
                                        indent=1))
        write_text(osp.splitext(args.out)[0] + '.md', '\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
