"""End to end: tools/train.py configs/hih_wflw.py on the WFLW fixture."""
import glob
import os.path as osp

import pytest
from conftest import fixture_dir, run_tool
from tool_options import HIH_EPOCHS as EPOCHS
from tool_options import read_scalars, tiny_overrides


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
