"""The pre-run check covers every file a run opens: the evaluators' files
(COCO's ``ann_file``, MPII's head boxes) and the pretrained weights of a
``Pretrained`` init, each miss one ``error:`` line with exit 2."""
import os.path as osp
import urllib.error

import pytest
from conftest import ROOT, fixture_dir, run_tool
from mmengine.config import Config
from tool_options import (ONE_THREAD, as_cli, fixture_options,
                          tiny_model_options)

import hih_plugin  # noqa: F401
from hih_plugin.cli.checks import check_dataset_paths
from hih_plugin.cli.checks.paths import resolve_pretrained
from hih_plugin.errors import UserError


def config_path(name):
    return osp.join(ROOT, 'configs', f'{name}.py')


def assert_one_error_line(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def train_options(name, tmp_path):
    """The fixture options of test_configs, tiny model, no pretraining."""
    dataset = name.split('_', 1)[1]
    root = fixture_dir(dataset)
    cfg = Config.fromfile(config_path(name))
    return {**tiny_model_options(cfg),
            **fixture_options(dataset, root, tmp_path)}


@pytest.mark.e2e
def test_coco_evaluator_ann_file_missing(tmp_path):
    """The data, boxes and model are set, the evaluator's file is not."""
    opts = train_options('hih_coco', tmp_path)
    for split in ('val', 'test'):
        del opts[f'{split}_evaluator.ann_file']
    proc = run_tool('train.py', config_path('hih_coco'), '--work-dir',
                    tmp_path / 'work', '--cfg-options', *as_cli(opts),
                    check=False, timeout=120, env=ONE_THREAD)
    assert_one_error_line(
        proc, 'val evaluator CocoMetric ann_file not found: '
        'data/coco/annotations/person_keypoints_val2017.json',
        'val_evaluator.ann_file=PATH', 'Data preparation')
    assert not (tmp_path / 'work').exists()


@pytest.mark.e2e
def test_mpii_head_boxes_missing(tmp_path):
    opts = train_options('hih_mpii', tmp_path)
    for split in ('val', 'test'):
        opts[f'{split}_dataloader.dataset.headbox_file'] = None
    proc = run_tool('train.py', config_path('hih_mpii'), '--work-dir',
                    tmp_path / 'work', '--cfg-options', *as_cli(opts),
                    check=False, timeout=120, env=ONE_THREAD)
    assert_one_error_line(proc, 'MpiiPCKAccuracy computes PCKh',
                          'val_dataloader.dataset.headbox_file',
                          'mpii_gt_val.mat')


def test_mpii_head_box_file_missing_on_test(tmp_path):
    opts = train_options('hih_mpii', tmp_path)
    missing = tmp_path / 'mpii_gt_val.mat'
    opts['test_dataloader.dataset.headbox_file'] = str(missing)
    cfg = Config.fromfile(config_path('hih_mpii'))
    cfg.merge_from_dict(opts)
    with pytest.raises(UserError, match=f'test headbox_file not found: '
                       f'{missing}'):
        check_dataset_paths(cfg, ('test', ))


@pytest.mark.e2e
def test_offline_pretrained_weights_are_one_line(tmp_path):
    """A remote Pretrained source that cannot be fetched (here a port
    nobody listens on) stops the run before the runner starts."""
    opts = train_options('h3r_wflw', tmp_path)
    del opts['model.backbone.init_cfg']
    opts['model.backbone.init_cfg.checkpoint'] = (
        'http://127.0.0.1:9/hrnetv2_w18.pth')
    proc = run_tool('train.py', config_path('h3r_wflw'), '--work-dir',
                    tmp_path / 'work', '--cfg-options', *as_cli(opts),
                    check=False, timeout=120,
                    env=dict(ONE_THREAD, TORCH_HOME=str(tmp_path / 'th')))
    assert_one_error_line(
        proc, 'cannot download the pretrained weights '
        'http://127.0.0.1:9/hrnetv2_w18.pth of model.backbone.init_cfg',
        osp.join(str(tmp_path / 'th'), 'hub', 'checkpoints',
                 'hrnetv2_w18.pth'),
        'set model.backbone.init_cfg.checkpoint to a local copy',
        'model.backbone.init_cfg=None to train from scratch')
    assert not (tmp_path / 'work').exists()


@pytest.fixture
def h3r_wflw(tmp_path, monkeypatch):
    """h3r_wflw (open-mmlab://msra/hrnetv2_w18) with its data in place, an
    empty download cache, and no network."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'th'))
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError('[Errno -2] Name or service not known')

    monkeypatch.setattr('torch.hub.download_url_to_file', offline)
    cfg = Config.fromfile(config_path('h3r_wflw'))
    cfg.merge_from_dict(train_options('h3r_wflw', tmp_path))
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')
    return cfg, calls


def test_open_mmlab_source_offline(h3r_wflw, tmp_path):
    cfg, calls = h3r_wflw
    with pytest.raises(UserError) as err:
        check_dataset_paths(cfg, ('train', 'val'))
    assert len(calls) == 1
    msg = str(err.value)
    assert 'open-mmlab://msra/hrnetv2_w18' in msg
    assert 'Name or service not known' in msg
    assert 'model.backbone.init_cfg=None' in msg
    # only training initialises from pretrained weights
    check_dataset_paths(cfg, ('test', ))


def test_open_mmlab_source_in_cache_needs_no_network(h3r_wflw, tmp_path):
    cfg, calls = h3r_wflw
    path, url = resolve_pretrained('open-mmlab://msra/hrnetv2_w18')
    # the file name MMEngine's download gives it, in torch hub's cache
    assert path == osp.join(str(tmp_path / 'th'), 'hub', 'checkpoints',
                            osp.basename(url))
    assert url.endswith('.pth')
    assert osp.basename(url).startswith('hrnetv2_w18')
    (tmp_path / 'th' / 'hub' / 'checkpoints').mkdir(parents=True)
    open(path, 'wb').close()
    check_dataset_paths(cfg, ('train', 'val'))
    assert calls == []


def test_local_pretrained_file_missing(h3r_wflw, tmp_path):
    cfg, calls = h3r_wflw
    missing = str(tmp_path / 'w18.pth')
    cfg.model.backbone.init_cfg.checkpoint = missing
    with pytest.raises(UserError, match=f'pretrained weights not found: '
                       f'{missing} \\(model.backbone.init_cfg\\)'):
        check_dataset_paths(cfg, ('train', ))
    assert calls == []
