"""Every config under configs/: it builds its model, and it holds no dead
or stale keys. The `_base_` fragments are only read through them."""
import glob
import os.path as osp

import pytest
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS
from test_dataset_configs import CONFIGS

import hih_plugin  # noqa: F401  registers the plugin's modules

ALL = sorted(
    osp.relpath(p, osp.join(ROOT, 'configs'))
    for p in glob.glob(osp.join(ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'mix', '*.py')))
# test_dataset_configs.py builds and runs the others at full size
OTHERS = [name for name in ALL if name[:-3] not in CONFIGS]
FRAGMENTS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '_base_', '**', '*.py'),
                       recursive=True))
H3R_TEST_CFG = {'flip_test', 'output_heatmaps'}


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def test_no_fragment_where_mmpose_looks_for_metainfo():
    """MMPose's datasets read `configs/_base_/datasets/<name>.py` under the
    working directory, before their own copy, as their metainfo: a file of
    ours there would replace it when run from the project root."""
    assert not osp.exists(osp.join(ROOT, 'configs', '_base_', 'datasets'))


def test_all_lists_every_user_config():
    assert len(ALL) == len(CONFIGS) + len(OTHERS)
    assert {f'{name}.py' for name in CONFIGS} <= set(ALL)
    assert not [name for name in ALL if name.startswith('_base_')]
    assert FRAGMENTS  # the fragments exist, and each is used below


@pytest.mark.parametrize('name', OTHERS)
def test_model_builds(name):
    cfg = load(name)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert model.head.out_channels == cfg.model.head.out_channels


def encoders(cfg):
    return [
        t['encoder'].to_dict()
        for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'GenerateTarget'
    ]


@pytest.mark.parametrize('name', ALL)
def test_no_dead_or_stale_keys(name):
    cfg = load(name)
    # `_delete_` consumed everywhere: none reaches a constructor
    assert '_delete_' not in cfg.pretty_text
    # one codec: the one the loader encodes with, the head decodes with,
    # and `codec` names for the tools
    decoder = cfg.model.head.decoder.to_dict()
    assert encoders(cfg) == [decoder]
    assert cfg.codec.to_dict() == decoder
    backbone = cfg.model.backbone
    if backbone.type == 'HIHHourglass':
        # num_stacks overrides arch, so both together is a dead arch
        assert not ('arch' in backbone and 'num_stacks' in backbone)
        assert backbone.num_keypoints == cfg.model.head.out_channels
    if cfg.model.head.type == 'H3RHead':
        # H3RHead mirrors decoded points: no heatmap flip options
        assert set(cfg.model.test_cfg) <= H3R_TEST_CFG
        # the prior bias comes from the head's default init
        assert 'init_cfg' not in cfg.model.head
    # the evaluators and dataloaders name one dataset
    splits = [cfg[f'{s}_dataloader'].dataset for s in ('train', 'val')]
    assert len({ds.type for ds in splits}) == 1
    assert cfg.get('dataset_type', splits[0].type) == splits[0].type


@pytest.mark.parametrize('name', ALL)
def test_every_pipeline_loads_images_checked(name):
    """Our configs say LoadCheckedImage, which refuses a damaged image
    naming it, where MMPose's say LoadImage; no tool rewrites it."""
    cfg = load(name)
    for split in ('train', 'val', 'test'):
        types = [step['type']
                 for step in cfg[f'{split}_dataloader'].dataset.pipeline]
        assert types[0] == 'LoadCheckedImage', (split, types)
        assert 'LoadImage' not in types, (split, types)


def test_one_fragment_switches_the_checkpoint_loader_on():
    """Every config gets its custom_imports from _base_/hih_plugin.py, and
    no config states its own."""
    fragment = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'hih_plugin.py')).custom_imports
    assert 'hih_plugin.checkpoint.enable' in fragment.imports
    for name in ALL:
        assert load(name).custom_imports == fragment, name
        text = open(osp.join(ROOT, 'configs', name)).read()
        assert 'custom_imports' not in text, name


@pytest.mark.parametrize(
    'name', [name for name in ALL
             if 'import ' in open(osp.join(ROOT, 'configs', name)).read()])
def test_config_with_a_helper_dumps_and_reads_back(name, tmp_path):
    """A config that calls a helper of ours (imported after `_base_`)
    dumps, as the runner does into its work dir, to plain dicts that read
    back as the same config."""
    cfg = load(name)
    cfg.dump(str(tmp_path / 'dumped.py'))
    assert Config.fromfile(str(tmp_path / 'dumped.py')).to_dict() == \
        cfg.to_dict()


@pytest.mark.parametrize('fragment', FRAGMENTS)
def test_each_fragment_is_used(fragment):
    users = []
    for name in ALL:
        text = open(osp.join(ROOT, 'configs', name)).read()
        if osp.basename(fragment) in text:
            users.append(name)
    assert users, fragment
