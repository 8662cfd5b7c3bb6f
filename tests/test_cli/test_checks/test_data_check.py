"""Broken annotations and images end in one error line before training."""
import json
import os.path as osp
import shutil

import pytest
import torch
from conftest import ROOT, fixture_dir, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401  registers our parts
from hih_plugin.cli.checks.data import (check_dataset_content,
                                        warn_unchecked_loading)
from hih_plugin.errors import UserError


@pytest.fixture
def wflw(tmp_path):
    """A writable copy of the WFLW fixture: (folder, annotation dict)."""
    root = tmp_path / 'wflw'
    shutil.copytree(fixture_dir('wflw'), root)
    with open(root / 'test_wflw.json') as f:
        return root, json.load(f)


def config(root, ann='test_wflw.json', name='hih_wflw.py'):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.update(
            data_root=str(root), ann_file=ann, data_prefix=dict(img=''))
    return cfg


def check(cfg, match):
    with pytest.raises(UserError, match=match) as err:
        check_dataset_content(cfg, ('train', 'val'))
    assert '\n' not in str(err.value)
    return str(err.value)


def first_image(root, data):
    return root / data['images'][0]['file_name']


@pytest.mark.parametrize('name,folder,ann', [
    ('hih_wflw.py', 'wflw', 'test_wflw.json'),
    ('hih_300w.py', '300w', 'test_300w.json'),
    ('hih_cofw.py', 'cofw', 'test_cofw.json'),
    ('hih_aflw.py', 'aflw', 'test_aflw.json'),
    ('hih_mpii.py', 'mpii', 'test_mpii.json'),
    ('h3r_coco.py', 'coco', 'test_coco.json'),
])
def test_every_fixture_passes(name, folder, ann):
    check_dataset_content(config(fixture_dir(folder), ann, name),
                          ('train', 'val'))


def test_malformed_json_names_file_and_position(wflw):
    root, _ = wflw
    text = (root / 'test_wflw.json').read_text().replace(',', ' ', 30)
    (root / 'test_wflw.json').write_text(text)
    msg = check(config(root), r"is not valid JSON: Expecting ',' delimiter "
                r'at line \d+ column \d+')
    assert str(root / 'test_wflw.json') in msg


def test_keypoint_count_not_matching_metainfo(wflw):
    root, _ = wflw
    shutil.copy(osp.join(fixture_dir('300w'), 'test_300w.json'), root)
    check(config(root, 'test_300w.json'),
          'has 68 keypoints, but WFLWDataset has 98')


def test_keypoint_count_of_mpii_joints(tmp_path):
    root = tmp_path / 'mpii'
    shutil.copytree(fixture_dir('mpii'), root)
    data = json.loads((root / 'test_mpii.json').read_text())
    data[1]['joints'] = data[1]['joints'][:14]
    (root / 'test_mpii.json').write_text(json.dumps(data))
    check(config(root, 'test_mpii.json', 'hih_mpii.py'),
          'has 14 keypoints, but MpiiDataset has 16')


def test_empty_annotation_list(wflw):
    root, data = wflw
    data['annotations'] = []
    (root / 'test_wflw.json').write_text(json.dumps(data))
    check(config(root), 'has no keypoint annotations')


@pytest.mark.parametrize('damage,match', [
    ('remove', 'is missing'),
    ('empty', r'is empty \(0 bytes\)'),
    ('truncate', 'is truncated'),
    ('garbage', 'is not an image'),
])
def test_bad_image_is_named(wflw, damage, match):
    root, data = wflw
    img = first_image(root, data)
    content = img.read_bytes()
    if damage == 'remove':
        img.unlink()
    else:
        img.write_bytes({'empty': b'', 'truncate': content[:len(content) // 2],
                         'garbage': b'not an image at all' * 10}[damage])
    msg = check(config(root), match)
    assert str(img) in msg


# --- through the tools ---------------------------------------------------


def test_unchecked_loader_is_warned_of_and_kept(capsys):
    """A pipeline with MMPose's LoadImage (here inside a dataset wrapper)
    gets one warning line; the config stays as written."""
    load = [dict(type='LoadImage')]
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', dataset=dict(pipeline=load))),
        val_dataloader=dict(dataset=dict(
            pipeline=[dict(type='LoadCheckedImage')]))))
    warn_unchecked_loading(cfg, ('train', 'val'))
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('warning: the train ')
    assert "dict(type='LoadCheckedImage')" in err
    assert cfg.train_dataloader.dataset.dataset.pipeline == load
    warn_unchecked_loading(config('unused'), ('train', 'val', 'test'))
    assert not capsys.readouterr().err  # our configs load checked


def test_unchecked_loader_is_warned_of_by_the_main_rank_only(
        capsys, monkeypatch):
    """The checks run on every rank before the process group exists, so
    the launcher's environment tells which rank warns."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        pipeline=[dict(type='LoadImage')]))))
    monkeypatch.delenv('SLURM_PROCID', raising=False)
    for env, rank, warned in (('RANK', '1', False), ('RANK', '0', True),
                              ('SLURM_PROCID', '2', False)):
        monkeypatch.delenv('RANK', raising=False)
        monkeypatch.setenv(env, rank)
        warn_unchecked_loading(cfg, ('train', ))
        assert bool(capsys.readouterr().err) == warned, (env, rank)


def assert_one_error_line(proc, *needles):
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.startswith('error:')]
    assert len(errors) == 1 and 'Traceback' not in proc.stderr, \
        proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


def data_options(root, ann):
    return [f'{split}_dataloader.dataset.{key}={value}'
            for split in ('train', 'val', 'test')
            for key, value in (('data_root', root), ('ann_file', ann),
                               ('data_prefix.img', ''))]


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_train_tool_malformed_json(wflw):
    root, _ = wflw
    path = root / 'test_wflw.json'
    path.write_text(path.read_text()[:-200])
    proc = run_tool('train.py', 'configs/hih_wflw.py', '--work-dir',
                    root / 'work', '--cfg-options',
                    *data_options(root, 'test_wflw.json'), check=False)
    assert_one_error_line(proc, str(path), 'not valid JSON')


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_test_tool_keypoint_count(tmp_path):
    # a tiny HIH that fits its checkpoint, tested on 68-point 300W faces
    tiny = {'model.backbone.num_stacks': 1, 'model.backbone.depth': 2,
            'model.backbone.feat_channels': 16, 'model.head.in_channels': 16,
            'model.head.decimal_channels': 16}
    opts = [f'{k}={v}' for k, v in tiny.items()]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hih_wflw.py'))
    cfg.merge_from_dict(tiny)
    init_default_scope('mmpose')
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, ckpt)
    proc = run_tool('test.py', 'configs/hih_wflw.py', ckpt, '--work-dir',
                    tmp_path / 'work', '--cfg-options', *opts,
                    *data_options(fixture_dir('300w'), 'test_300w.json'),
                    check=False)
    assert_one_error_line(proc, 'has 68 keypoints, but WFLWDataset has 98')


@pytest.mark.e2e
@pytest.mark.timeout(60)
@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
def test_amp_without_gpu(tmp_path):
    root = fixture_dir('wflw')
    proc = run_tool('train.py', 'configs/hih_wflw.py', '--amp',
                    '--work-dir', tmp_path / 'work', '--cfg-options',
                    *data_options(root, 'test_wflw.json'), check=False)
    assert_one_error_line(proc, '--amp needs a GPU')
    assert not (tmp_path / 'work').exists()  # stopped before the runner
