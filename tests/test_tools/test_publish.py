"""tools/publish_model.py writes what MMPose's model zoo holds: a metafile
shaped like MMPose's own (checked with model-index and against a metafile of
the installed MMPose), dated weights, a results page and a project README."""
import datetime
import glob
import importlib.util
import json
import os.path as osp
import re

import mmpose
import pytest
import yaml
from conftest import ROOT, fixture_dir, run_tool
from mmengine.config import Config
from tool_options import (ONE_THREAD, as_cli, fixture_options,
                          tiny_model_options)

modelindex = pytest.importorskip('modelindex')
MMPOSE_CONFIGS = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs')
CONFIG = 'configs/hih_wflw.py'


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'publish_tool', osp.join(ROOT, 'tools', 'publish_model.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope='module')
def tested(tmp_path_factory):
    """A tiny HIH of configs/hih_wflw.py shrunk by --cfg-options, with
    random weights, tested on the WFLW fixture by tools/test.py."""
    from ecosystem_utils import save_random_weights
    root = fixture_dir('wflw')
    tmp = tmp_path_factory.mktemp('publish')
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    model_opts = tiny_model_options(cfg)
    cfg.merge_from_dict(model_opts)
    cfg.dump(str(tmp / 'trained.py'))
    ckpt = save_random_weights(str(tmp / 'trained.py'), tmp / 'hih.pth')
    opts = as_cli({**model_opts, **fixture_options('wflw', root, tmp)})
    metrics = tmp / 'metrics.json'
    run_tool('test.py', CONFIG, ckpt, '--work-dir', tmp / 'test', '--out',
             metrics, '--cfg-options', *opts, env=ONE_THREAD)
    return dict(ckpt=ckpt, metrics=metrics, model_opts=as_cli(model_opts),
                tmp=tmp)


def test_publish_round_trip(tested, tmp_path):
    out = tmp_path / 'zoo'
    run_tool('publish_model.py', CONFIG, tested['ckpt'], tested['metrics'],
             '--out-dir', out, '--metrics', 'NME', 'FR@10', 'AUC@10',
             '--project', '--cfg-options', *tested['model_opts'],
             env=ONE_THREAD)
    measured = json.loads(tested['metrics'].read_text())

    # weights named as MMPose's publish tool names them
    (pth, ) = glob.glob(str(out / 'hih_wflw-*.pth'))
    today = datetime.date.today().strftime('%Y%m%d')
    assert re.fullmatch(rf'hih_wflw-[0-9a-f]{{8}}_{today}\.pth',
                        osp.basename(pth))

    yml = out / 'hih_wflw.yml'
    index = modelindex.load(str(yml))
    assert index.check(silent=True) == []
    (model, ) = index.models
    assert model.config == CONFIG  # relative to the repository
    (result, ) = model.results
    assert result.metrics == {
        'NME': round(100 * measured['NME'], 4),  # percent, as the zoo
        'FR@10': round(100 * measured['FR@10'], 4),
        'AUC@10': round(measured['AUC@10'], 4),
    }
    assert result.metrics['NME'] > 0

    # the keys of MMPose's own face and body metafiles
    ours = yaml.safe_load(yml.read_text())
    face = yaml.safe_load(open(osp.join(
        MMPOSE_CONFIGS, 'face_2d_keypoint', 'topdown_heatmap', 'wflw',
        'hrnetv2_wflw.yml')))
    body = yaml.safe_load(open(osp.join(
        MMPOSE_CONFIGS, 'body_2d_keypoint', 'topdown_heatmap', 'coco',
        'hrnet_coco.yml')))
    (our_model, ), their_model = ours['Models'], face['Models'][0]
    assert set(our_model) == set(their_model)
    assert set(our_model['Metadata']) == set(their_model['Metadata'])
    assert set(our_model['Results'][0]) == set(their_model['Results'][0])
    (our_coll, ), their_coll = ours['Collections'], body['Collections'][0]
    assert set(our_coll) == set(their_coll)  # Name, Paper, README
    assert set(our_coll['Paper']) == set(their_coll['Paper'])
    assert our_coll['README'] == 'projects/hih_wflw/README.md'

    page = (out / 'hih_wflw.md').read_text()
    assert '<!-- [ALGORITHM] -->' in page
    assert 'Results on WFLW dataset' in page
    assert (f'| [hih_wflw](/{CONFIG}) | 256x256 | '
            f'{result.metrics["NME"]} |') in page

    readme = (out / 'projects' / 'hih_wflw' / 'README.md').read_text()
    for section in ('## Description', '## Usage', '## Results',
                    '## Citation', '## Checklist'):
        assert section in readme
    assert f'mim train mmpose {CONFIG}' in readme
    assert osp.basename(pth) in readme


def test_config_outside_project_needs_its_zoo_path(tmp_path):
    tool = load_tool()
    outside = str(tmp_path / 'hih.py')
    with pytest.raises(tool.UserError, match='outside this project'):
        tool.zoo_config(outside)
    assert tool.zoo_config(outside, 'configs/hih.py') == 'configs/hih.py'
    assert tool.zoo_config(osp.join(ROOT, CONFIG)) == CONFIG
