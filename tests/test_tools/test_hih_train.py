"""End to end: tools/train.py configs/hih_wflw.py on the WFLW fixture."""
import glob
import json
import os.path as osp

import pytest

from conftest import fixture_dir, run_tool

EPOCHS = 10


def tiny_overrides(root):
    """A 1-stack, 16-channel HIH on the 2-image fixture, batch 2, with the
    random augmentations switched off so that 20 iterations show a trend."""
    pipeline = 'train_dataloader.dataset.pipeline'
    opts = [
        f'{pipeline}.2.prob=0.',  # RandomFlip
        f'{pipeline}.3.shift_prob=0.', f'{pipeline}.3.rotate_prob=0.',
        f'{pipeline}.3.scale_prob=0.',  # RandomBBoxTransform
        f'{pipeline}.5.prob=0.',  # RandomGaussianBlur
        f'{pipeline}.6.prob=0.',  # RandomApply(CutOut)

        f'train_cfg.max_epochs={EPOCHS}', f'train_cfg.val_interval={EPOCHS}',
        'model.backbone.num_stacks=1', 'model.backbone.feat_channels=16',
        'model.backbone.depth=2', 'model.head.in_channels=16',
        'model.head.decimal_channels=16',
        'optim_wrapper.optimizer.lr=0.004', 'param_scheduler=[]',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'default_hooks.checkpoint.interval=1000', 'randomness.seed=0',
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.dataset.ann_file=test_wflw.json',
            f'{split}_dataloader.dataset.data_prefix.img=',
            f'{split}_dataloader.batch_size=2',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
        ]
    return opts


def read_scalars(work_dir):
    paths = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.timeout(300)
def test_train_hih_wflw_end_to_end(tmp_path):
    root = fixture_dir('wflw')
    work_dir = str(tmp_path / 'work')
    proc = run_tool('train.py', 'configs/hih_wflw.py', '--work-dir',
                    work_dir, '--cfg-options', *tiny_overrides(root))
    assert 'NME' in proc.stdout + proc.stderr

    records = read_scalars(work_dir)
    train = [r for r in records if 'loss' in r]
    assert len(train) == EPOCHS * 2  # 4 faces, batch 2
    for r in train:
        assert {'loss_kpt', 'loss_decimal', 'acc_pose'} <= set(r)
    # the loss starts at the "predict nothing" level, so the trend is small
    first = sum(r['loss'] for r in train[:4]) / 4
    last = sum(r['loss'] for r in train[-4:]) / 4
    assert last < 0.95 * first, [r['loss'] for r in train]

    nme = [r['NME'] for r in records if 'NME' in r]
    assert len(nme) == 1 and nme[0] > 0

    ckpts = glob.glob(osp.join(work_dir, '*.pth'))
    assert any(osp.basename(c).startswith('best_NME') for c in ckpts), ckpts
    assert osp.isfile(osp.join(work_dir, f'epoch_{EPOCHS}.pth'))
