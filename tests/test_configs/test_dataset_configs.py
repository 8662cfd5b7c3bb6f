"""The twelve configs {hih,h3r} x {wflw,cofw,300w,aflw,mpii,coco}, and
hih-local_wflw.

Each config builds its full-size model and runs it once; shrunk through
``--cfg-options`` (never a separate config), it trains one iteration and
validates once on the matching MMPose fixture through ``tools/train.py``,
reporting the metrics the dataset's papers report.
"""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT, fixture_dir, run_tool
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS
from tool_options import (DATASETS, ONE_THREAD, SPLITS, as_cli,
                          fixture_options, read_scalars, tiny_model_options)

import hih_plugin  # noqa: F401  registers the plugin's modules
from hih_plugin.cli.checks import check_dataset_paths
from hih_plugin.errors import UserError

CONFIGS = [f'{m}_{name}' for m in ('hih', 'h3r') for name in DATASETS
           ] + ['hih-local_wflw']


def config_path(name):
    return osp.join(ROOT, 'configs', f'{name}.py')


@pytest.mark.parametrize('name', CONFIGS)
def test_full_size_model_builds_and_runs(name):
    """The config as shipped: its model builds and one image goes through
    it, so the head's channels match the backbone's."""
    cfg = Config.fromfile(config_path(name))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model).eval()
    w, h = cfg.codec['input_size']
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see ONE_THREAD
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, h, w), None, mode='tensor')
    finally:
        torch.set_num_threads(threads)
    num_keypoints = cfg.model.head.out_channels
    if cfg.model.head.type == 'HIHHead':
        # every stack's integer heatmaps, and the decimal logits
        stacks, decimal = out
        heatmaps = stacks[-1]
        d = model.head.decoder.decimal_size
        assert decimal.shape[-3:] == (num_keypoints, d, d)
    else:
        heatmaps = out
    heatmap_w, heatmap_h = cfg.codec['heatmap_size']
    assert heatmaps.shape[-3:] == (num_keypoints, heatmap_h, heatmap_w)


@pytest.mark.e2e
@pytest.mark.timeout(120)
@pytest.mark.parametrize('name', CONFIGS)
def test_train_one_iteration_and_validate_on_fixture(name, tmp_path):
    dataset = name.split('_', 1)[1]
    root = fixture_dir(dataset)
    cfg = Config.fromfile(config_path(name))
    opts = {**tiny_model_options(cfg),
            **fixture_options(dataset, root, tmp_path)}
    work_dir = tmp_path / 'work'
    run_tool('train.py', config_path(name), '--work-dir', work_dir,
             '--cfg-options', *as_cli(opts), timeout=120, env=ONE_THREAD)

    records = read_scalars(work_dir)
    assert len([r for r in records if 'loss' in r]) == 1  # one iteration
    val = [r for r in records if 'loss' not in r]
    assert len(val) == 1, records
    keys = DATASETS[dataset]['keys']
    missing = [key for key in keys if key not in val[0]]
    for key in keys:
        if key not in missing:
            assert np.isfinite(val[0][key]), (key, val[0])
    assert not missing, (missing, val[0])


@pytest.mark.parametrize('name', CONFIGS)
def test_missing_annotation_file_is_named(name, tmp_path):
    """Every config's splits are checked: an empty data root fails on the
    annotation file, naming it and the data-preparation section of
    docs/training.md."""
    cfg = Config.fromfile(config_path(name))
    for split in SPLITS:
        cfg[f'{split}_dataloader'].dataset.data_root = str(tmp_path)
    with pytest.raises(UserError) as err:
        check_dataset_paths(cfg, SPLITS)
    ann_file = cfg.train_dataloader.dataset.ann_file
    assert osp.join(str(tmp_path), ann_file) in str(err.value)
    assert 'Data preparation' in str(err.value)


def touch(path):
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    open(path, 'w').close()


@pytest.mark.parametrize('name', CONFIGS)
def test_mmpose_data_layout_passes_path_check(name, tmp_path, monkeypatch):
    """With the files each config names laid out as MMPose reads them
    (``ann_file`` under ``data_root``; ``bbox_file`` and ``headbox_file``
    as given, relative to the working directory), the check passes."""
    from hih_plugin.cli.checks.paths import (_pretrained_inits,
                                             resolve_pretrained)
    cfg = Config.fromfile(config_path(name))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    for split in SPLITS:
        ds = cfg[f'{split}_dataloader'].dataset
        touch(osp.join(ds.data_root, ds.ann_file))
        for key in ('bbox_file', 'headbox_file'):
            if ds.get(key):
                touch(ds[key])
        evaluator = cfg.get(f'{split}_evaluator') or {}
        for metric in ([evaluator] if isinstance(evaluator, dict) else
                       evaluator):
            if metric.get('ann_file'):
                touch(metric['ann_file'])
    # pretrained weights already in the download cache: nothing to fetch
    for _, source in _pretrained_inits(cfg.model):
        touch(resolve_pretrained(source)[0])
    check_dataset_paths(cfg, SPLITS)


@pytest.mark.e2e
def test_train_tool_stops_before_training_without_annotations(tmp_path):
    """End to end: tools/train.py on a data root without the annotation
    file exits with one line naming it, before the runner starts."""
    work_dir = tmp_path / 'work'
    proc = run_tool('train.py', config_path('hih_cofw'), '--work-dir',
                    work_dir, '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}',
                    f'val_dataloader.dataset.data_root={tmp_path}',
                    check=False, timeout=120, env=ONE_THREAD)
    assert proc.returncode == 2, proc.stderr[-2000:]
    missing = osp.join(str(tmp_path), 'annotations/cofw_train.json')
    assert missing in proc.stderr
    assert 'docs/training.md, section "Data preparation"' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not work_dir.exists()  # the runner never started
