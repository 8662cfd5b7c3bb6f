"""Training runs that never rot silently: NaN guards, diverging runs that
stop cleanly, H3R resume. The hook's and the transforms' own tests are in
tests/test_engine/ and tests/test_datasets/."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT, assert_one_error, fixture_dir, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS
from tool_options import cfg_options as h3r_options
from tool_options import read_scalars, tiny_overrides

import hih_plugin  # noqa: F401  registers our parts
from hih_plugin.checkpoint import load_file


def error_lines(proc):
    return [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]


def finite_state(path):
    ckpt = load_file(path)
    return all(torch.isfinite(t).all() for t in ckpt['state_dict'].values()
               if t.is_floating_point())


# --- NaN visibility ------------------------------------------------------


@pytest.mark.timeout(120)
def test_nan_visibility_run_trains_with_finite_losses(tmp_path):
    root = fixture_dir('wflw')
    with open(osp.join(root, 'test_wflw.json')) as f:
        data = json.load(f)
    data['annotations'][0]['keypoints'][2] = float('nan')  # one visibility
    ann = tmp_path / 'nan_vis.json'
    ann.write_text(json.dumps(data))  # writes NaN, as json.load reads it
    work_dir = tmp_path / 'work'
    proc = run_tool(
        'train.py', 'configs/hih_wflw.py', '--work-dir', work_dir,
        '--cfg-options', *tiny_overrides(root),
        f'train_dataloader.dataset.ann_file={ann}', 'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=4')
    losses = [r['loss'] for r in read_scalars(str(work_dir)) if 'loss' in r]
    assert len(losses) == 2 and np.isfinite(losses).all(), losses
    assert '1 keypoint visibility value(s) are NaN/inf' in proc.stderr
    assert all(finite_state(p) for p in glob.glob(str(work_dir / '*.pth')))


# --- a diverging run stops at once --------------------------------------


@pytest.mark.timeout(120)
def test_diverging_run_stops_with_one_error_and_no_non_finite_checkpoint(
        tmp_path):
    work_dir = tmp_path / 'work'
    proc = run_tool(
        'train.py', 'configs/hih_wflw.py', '--work-dir', work_dir,
        '--cfg-options', *tiny_overrides(fixture_dir('wflw')),
        'train_dataloader.batch_size=4', 'train_cfg.max_epochs=4',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'optim_wrapper.optimizer.lr=1e30', check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    assert 'non-finite loss at iteration 2' in errors[0]
    assert 'loss_kpt=' in errors[0] and 'loss_decimal=' in errors[0]
    ckpts = glob.glob(str(work_dir / '*.pth'))
    assert osp.join(work_dir, 'epoch_1.pth') in ckpts  # the last good one
    assert f'last good checkpoint is {work_dir}/epoch_1.pth' in errors[0]
    assert not any(osp.basename(c).startswith('epoch_2') for c in ckpts)
    assert all(finite_state(c) for c in ckpts)


# --- H3R: a resumed run draws the straight run's roundings ---------------


@pytest.mark.timeout(180)
def test_h3r_straight_and_resumed_runs_end_with_identical_weights(tmp_path):
    opts = h3r_options(fixture_dir('wflw')) + [
        'train_cfg.max_epochs=4', 'default_hooks.checkpoint.interval=1',
        'randomness.deterministic=True']
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    # val_interval 6 > 4 epochs: no validation
    run_tool('train.py', 'configs/h3r_wflw.py', '--work-dir', straight,
             '--cfg-options', *opts)
    run_tool('train.py', 'configs/h3r_wflw.py', '--work-dir', resumed,
             '--resume', straight / 'epoch_2.pth', '--cfg-options', *opts)
    a = load_file(straight / 'epoch_4.pth')['state_dict']
    b = load_file(resumed / 'epoch_4.pth')['state_dict']
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and the rounding did change the weights over epochs 3 and 4
    c = load_file(straight / 'epoch_2.pth')['state_dict']
    assert not all(torch.equal(a[k], c[k]) for k in a)


# --- a NaN model does not test as a plausible score, nor as a result -----


@pytest.mark.timeout(90)
def test_nan_model_metrics_are_refused_not_written(tmp_path):
    root = fixture_dir('wflw')
    tiny = {'model.backbone.num_stacks': 1, 'model.backbone.depth': 2,
            'model.backbone.feat_channels': 16, 'model.head.in_channels': 16,
            'model.head.decimal_channels': 16}
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hih_wflw.py'))
    cfg.merge_from_dict(tiny)
    init_default_scope('mmpose')
    state = MODELS.build(cfg.model).state_dict()
    state = {k: v.fill_(float('nan')) if v.is_floating_point() else v
             for k, v in state.items()}
    ckpt, out = tmp_path / 'nan.pth', tmp_path / 'metrics.json'
    torch.save({'state_dict': state}, ckpt)
    opts = [f'{k}={v}' for k, v in tiny.items()] + [
        'test_dataloader.dataset.data_root=' + root,
        'test_dataloader.dataset.ann_file=test_wflw.json',
        'test_dataloader.dataset.data_prefix.img=',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False']
    proc = run_tool('test.py', 'configs/hih_wflw.py', ckpt, '--work-dir',
                    tmp_path / 'work', '--out', out, '--cfg-options', *opts,
                    check=False)
    assert 'warning: 4 of 4 test images have NaN/inf predicted keypoints' \
        in proc.stderr
    # NME is NaN (it was a plausible 1.43 once): exit 2 naming it, and no
    # metrics file for publish_model.py to read
    assert_one_error(proc, 'metric NME of the test is nan')
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.hih-')]
