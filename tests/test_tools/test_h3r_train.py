"""End to end: tools/train.py configs/h3r_wflw.py on the WFLW fixture."""
import glob
import os.path as osp

import pytest
from conftest import ROOT, fixture_dir, run_tool
from tool_options import H3R_ITERS as ITERS
from tool_options import cfg_options, read_scalars


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
