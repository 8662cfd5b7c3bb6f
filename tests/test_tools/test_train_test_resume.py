"""The foundation: train, test and resume through our tools; their errors."""
import json
import os
import os.path as osp

import mmpose
import pytest
import torch
from conftest import ROOT, fixture_dir, run_tool
from tool_options import STOCK_CFG, read_scalars, wflw_options

from hih_plugin.checkpoint import load_file


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two epochs (one iteration each) of the stock HRNetV2 WFLW model."""
    root = fixture_dir('wflw')
    work_dir = tmp_path_factory.mktemp('train')
    run_tool('train.py', STOCK_CFG, '--work-dir', work_dir, '--cfg-options',
             *wflw_options(root, max_epochs=2))
    return root, work_dir


def test_train_saves_checkpoint_and_validates(trained):
    _, work_dir = trained
    assert osp.isfile(work_dir / 'epoch_2.pth')
    records = read_scalars(work_dir)
    assert any('loss' in r for r in records)
    assert any('NME' in r for r in records), 'validation logged no NME'


def test_test_tool_evaluates_checkpoint(trained, tmp_path):
    root, work_dir = trained
    out = tmp_path / 'metrics.json'
    run_tool('test.py', STOCK_CFG, work_dir / 'epoch_2.pth', '--work-dir',
             tmp_path, '--out', out, '--cfg-options',
             *wflw_options(root, max_epochs=2))
    metrics = json.loads(out.read_text())
    assert metrics['NME'] > 0


def test_resume_continues_iteration_counter(trained, tmp_path):
    root, work_dir = trained
    first = [r['step'] for r in read_scalars(work_dir) if 'loss' in r]
    per_epoch = first[-1] // 2
    proc = run_tool('train.py', STOCK_CFG, '--work-dir', tmp_path,
                    '--resume', work_dir / 'epoch_2.pth', '--cfg-options',
                    *wflw_options(root, max_epochs=3))
    assert f'resumed epoch: 2, iter: {first[-1]}' in proc.stdout
    resumed = [r['step'] for r in read_scalars(tmp_path) if 'loss' in r]
    assert resumed == [first[-1] + i + 1 for i in range(per_epoch)]
    assert osp.isfile(tmp_path / 'epoch_3.pth')


@pytest.mark.checkpoint_code
@pytest.mark.parametrize('how', ['path', 'auto'])
def test_resume_runs_no_code_from_the_checkpoints_config(trained, tmp_path,
                                                         how):
    """MMEngine's resume executes ``meta['config']`` as Python to compare
    GPU counts; train.py's runner drops it, so a checkpoint's text never
    runs, and the run resumes from its weights and counters. ``auto``:
    ``--resume`` alone, through the work dir's ``last_checkpoint``."""
    root, work_dir = trained
    canary = tmp_path / 'config_code_ran'
    ckpt = load_file(str(work_dir / 'epoch_2.pth'))
    code = f'open({str(canary)!r}, "w").write("ran")\n'
    ckpt['meta']['config'] = ckpt['message_hub']['runtime_info']['cfg'] = code
    crafted = tmp_path / 'crafted.pth'
    torch.save(ckpt, crafted)
    resume = [crafted]
    if how == 'auto':
        (tmp_path / 'run').mkdir()
        (tmp_path / 'run' / 'last_checkpoint').write_text(str(crafted))
        resume = []
    proc = run_tool('train.py', STOCK_CFG, '--work-dir', tmp_path / 'run',
                    '--resume', *resume, '--cfg-options',
                    *wflw_options(root, max_epochs=3))
    assert not canary.exists()
    assert 'resumed epoch: 2' in proc.stdout
    assert osp.isfile(tmp_path / 'run' / 'epoch_3.pth')
    # the run's checkpoints carry its own config text, not the crafted one
    saved = load_file(str(tmp_path / 'run' / 'epoch_3.pth'))
    text = saved['message_hub']['runtime_info']['cfg']
    assert str(canary) not in text and 'train_dataloader' in text


class _Payload:
    """Pickles as a call to os.system, as a malicious checkpoint would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_checkpoint_with_pickled_code_is_refused(trained, tmp_path):
    root, work_dir = trained
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    ckpt = load_file(str(work_dir / 'epoch_2.pth'))
    ckpt['meta'] = {'note': _Payload(marker)}
    torch.save(ckpt, evil)
    proc = run_tool('test.py', STOCK_CFG, evil, '--work-dir', tmp_path,
                    '--cfg-options', *wflw_options(root, max_epochs=2),
                    check=False)
    assert proc.returncode != 0
    assert not marker.exists(), 'the pickled os.system call was executed'
    assert 'refused to load the checkpoint' in proc.stderr
    assert 'system' in proc.stderr
    assert 'Traceback' not in proc.stderr


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, proc.stderr[-3000:]
    for frag in fragments:
        assert str(frag) in lines[0]
    assert 'Traceback' not in proc.stderr


def test_missing_config(tmp_path):
    missing = tmp_path / 'nope.py'
    proc = run_tool('train.py', missing, check=False)
    assert_one_line_error(proc, missing)


def test_missing_data_root(tmp_path):
    root = tmp_path / 'no_such_root'
    proc = run_tool('train.py', STOCK_CFG, '--work-dir', tmp_path,
                    '--cfg-options',
                    *wflw_options(str(root), max_epochs=1), check=False)
    assert_one_line_error(proc, root, 'Data preparation')


def test_missing_annotation_file(tmp_path):
    root = fixture_dir('wflw')
    opts = wflw_options(root, max_epochs=1) + [
        'val_dataloader.dataset.ann_file=missing_ann.json']
    proc = run_tool('train.py', STOCK_CFG, '--work-dir', tmp_path,
                    '--cfg-options', *opts, check=False)
    assert_one_line_error(proc, osp.join(root, 'missing_ann.json'))


def test_missing_checkpoint(tmp_path):
    root = fixture_dir('wflw')
    missing = tmp_path / 'missing.pth'
    proc = run_tool('test.py', STOCK_CFG, missing, '--cfg-options',
                    *wflw_options(root, max_epochs=1), check=False)
    assert_one_line_error(proc, missing)


def test_import_registers_every_part():
    """``import hih_plugin`` alone puts our parts into MMPose's registries."""
    code = ('import hih_plugin\n'
            'from mmpose.registry import KEYPOINT_CODECS, METRICS, MODELS\n'
            'for reg, names in ((KEYPOINT_CODECS, ["HIHHeatmap", '
            '"H3RHeatmap"]), (MODELS, ["HIHHourglass", "HIHHead", '
            '"H3RHead", "DistributionLoss", "H3RLoss"]), '
            '(METRICS, ["FailureRateAUC"])):\n'
            '    for name in names:\n'
            '        assert reg.get(name) is not None, name\n')
    run_tool(None, code, timeout=300)


def test_stock_mmpose_train_runs_our_config(tmp_path):
    """MMPose's own tools/train.py runs our config: custom_imports suffices."""
    from tool_options import tiny_overrides
    root = fixture_dir('wflw')
    stock_train = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    run_tool(stock_train, osp.join(ROOT, 'configs', 'hih_wflw.py'),
             '--work-dir', tmp_path, '--cfg-options', *tiny_overrides(root),
             'train_cfg.max_epochs=1', 'train_cfg.val_interval=1')
    assert any('NME' in r for r in read_scalars(tmp_path))
