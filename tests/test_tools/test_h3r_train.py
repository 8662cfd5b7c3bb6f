"""End to end: tools/train.py configs/h3r_wflw.py on the WFLW fixture."""
import glob
import json
import os.path as osp

import pytest
from conftest import ROOT, fixture_dir, run_tool

ITERS = 6  # one iteration per epoch: the fixture's 4 faces in one batch

# HRNet with the layout of HRNetV2-W18 but a few channels and one block per
# branch, so that a CPU iteration takes a fraction of a second.
TINY_HRNET = {
    'model.backbone.init_cfg': None,
    'model.backbone.extra.stage1.num_blocks': (1, ),
    'model.backbone.extra.stage1.num_channels': (8, ),
    'model.backbone.extra.stage2.num_blocks': (1, 1),
    'model.backbone.extra.stage2.num_channels': (4, 8),
    'model.backbone.extra.stage3.num_modules': 1,
    'model.backbone.extra.stage3.num_blocks': (1, 1, 1),
    'model.backbone.extra.stage3.num_channels': (4, 8, 16),
    'model.backbone.extra.stage4.num_modules': 1,
    'model.backbone.extra.stage4.num_blocks': (1, 1, 1, 1),
    'model.backbone.extra.stage4.num_channels': (4, 8, 16, 32),
    'model.head.in_channels': 60,
    'model.head.conv_out_channels': (60, ),
}


def cfg_options(data_root):
    opts = dict(TINY_HRNET)
    for split in ('train', 'val', 'test'):
        opts.update({
            f'{split}_dataloader.dataset.data_root': data_root,
            f'{split}_dataloader.dataset.ann_file': 'test_wflw.json',
            f'{split}_dataloader.dataset.data_prefix.img': '',
            f'{split}_dataloader.batch_size': 4,
            f'{split}_dataloader.num_workers': 0,
            f'{split}_dataloader.persistent_workers': False,
        })
    # Every step sees the same batch, without augmentation and warm-up and
    # with a larger lr, so six steps make a clear learning curve; only the
    # H3R rounding is still random.
    opts.update({
        'train_dataloader.dataset.pipeline.2.prob': 0.0,  # RandomFlip
        'train_dataloader.dataset.pipeline.3.rotate_prob': 0.0,
        'train_dataloader.dataset.pipeline.3.scale_prob': 0.0,
        'param_scheduler.0.start_factor': 1.0,
        'optim_wrapper.optimizer.lr': 0.01,
        'train_cfg.max_epochs': ITERS,
        'train_cfg.val_interval': ITERS,
        'default_hooks.logger.interval': 1,
        'log_processor.window_size': 1,  # log each iteration's own loss
        'default_hooks.checkpoint.interval': ITERS,
        'randomness.seed': 0,
    })
    return [f'{k}={v}' for k, v in opts.items()]


def read_scalars(work_dir):
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return [json.loads(line) for line in f]


@pytest.mark.timeout(240)
def test_train_lowers_loss_evaluates_nme_and_saves_checkpoint(tmp_path):
    data_root = fixture_dir('wflw')
    work_dir = tmp_path / 'work'
    run_tool('train.py', osp.join(ROOT, 'configs', 'h3r_wflw.py'),
             '--work-dir', work_dir, '--cfg-options',
             *cfg_options(data_root))

    scalars = read_scalars(work_dir)
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == ITERS
    # The BCE starts at its prior-initialised value; only localisation
    # can lower it.
    assert losses[-1] < 0.97 * losses[0], losses
    assert sum(losses[-2:]) < sum(losses[:2]), losses

    nme = [s['NME'] for s in scalars if 'NME' in s]
    assert len(nme) == 1 and nme[0] > 0  # a finite, evaluated NME
    assert osp.isfile(work_dir / f'epoch_{ITERS}.pth')
    assert glob.glob(str(work_dir / 'best_NME_epoch_*.pth'))
