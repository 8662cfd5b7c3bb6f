"""OpenMMLab's ``mim`` runs our configs through MMPose's own tools:
``mim train mmpose configs/hih_wflw.py`` and ``mim test mmpose ...``."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from conftest import ROOT, fixture_dir
from mmengine.config import Config
from tool_options import (ONE_THREAD, as_cli, fixture_options, read_scalars,
                          tiny_model_options)

pytest.importorskip('mim', reason='openmim is installed by make install')

CONFIG = osp.join('configs', 'hih_wflw.py')


def mim(*args):
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', *map(str, args)], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, **ONE_THREAD))
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.mark.timeout(600)
def test_mim_train_and_test_on_fixture(tmp_path):
    root = fixture_dir('wflw')
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    opts = as_cli({**tiny_model_options(cfg),
                   **fixture_options('wflw', root, tmp_path)})
    work_dir = tmp_path / 'work'
    proc = mim('train', 'mmpose', CONFIG, '--work-dir', work_dir,
               '--cfg-options', *opts)
    # mim ran MMPose's train.py from the installed package
    assert osp.join('mmpose', '.mim', 'tools', 'train.py') in proc.stdout
    records = read_scalars(work_dir)
    assert len([r for r in records if 'loss' in r]) == 1
    assert any('NME' in r for r in records)
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()

    out = tmp_path / 'test_work'
    proc = mim('test', 'mmpose', CONFIG, '--checkpoint', ckpt, '--work-dir',
               out, '--cfg-options', *opts)
    assert osp.join('mmpose', '.mim', 'tools', 'test.py') in proc.stdout
    (metrics_file, ) = list(out.glob('*/*.json'))
    metrics = json.loads(metrics_file.read_text())
    assert metrics['NME'] > 0
    assert {'FR@10', 'AUC@10'} <= set(metrics)
