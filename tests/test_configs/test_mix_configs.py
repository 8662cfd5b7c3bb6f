"""configs/mix/: stock MMPose configs with our codec, head and loss, by
inheritance alone. They must replace every copy of the codec (pipeline
encoder and head decoder) without stale keys, and train."""
import glob
import os.path as osp

import pytest
from conftest import fixture_dir, run_tool
from ecosystem_utils import H3R_MIX, HIH_MIX, MIX, NO_DOWNLOAD, data_options

pytest.importorskip('mmpose')

OUR_CODECS = {'HIHHeatmap', 'H3RHeatmap'}


def load(path):
    from mmengine.config import Config
    return Config.fromfile(path)


def encoders(cfg):
    pipeline = cfg.train_dataloader.dataset.pipeline
    return [t['encoder'] for t in pipeline if t['type'] == 'GenerateTarget']


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(MIX, '*.py'))),
                         ids=osp.basename)
def test_mix_config_replaces_codec_everywhere(path):
    cfg = load(path)
    assert cfg.custom_imports == dict(
        imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
        allow_failed_imports=False)
    assert cfg._cfg_dict.get('_base_') is None  # resolved from mmpose::
    decoder = cfg.model.head.decoder.to_dict()
    assert decoder['type'] in OUR_CODECS
    # the loader's encoder, the head's decoder and `codec` are one codec,
    # with no key left over from the base's MSRAHeatmap
    assert [e.to_dict() for e in encoders(cfg)] == [decoder]
    assert cfg.codec.to_dict() == decoder
    text = cfg.pretty_text
    assert 'MSRAHeatmap' not in text
    assert '_delete_' not in text


def test_hih_mix_has_hih_head_and_losses():
    head = load(HIH_MIX).model.head
    assert head.type == 'HIHHead'
    assert head.in_channels == 270  # HRNetV2-W18's concatenated branches
    assert head.out_channels == 98
    assert 'conv_out_channels' not in head  # HeatmapHead's, dropped
    # the local read-out's defaults: the recipe of hih-local_wflw.py
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import hih_plugin  # noqa: F401
    init_default_scope('mmpose')
    built = MODELS.build(head)
    assert type(built.decimal_loss_module).__name__ == 'DistributionLoss'
    assert type(built.loss_module).__name__ == 'H3RLoss'
    assert built.neighbour_votes and built.readout_cells == 'neighbours'


def test_h3r_mix_has_h3r_head_and_loss():
    cfg = load(H3R_MIX)
    assert cfg.model.head.type == 'H3RHead'
    assert cfg.model.head.loss.to_dict() == dict(
        type='H3RLoss', mode='bce', use_target_weight=True)
    assert cfg.model.test_cfg.to_dict() == dict(flip_test=True)
    assert cfg.model.backbone.depth == 50


def train_one_iteration(config, dataset, tmp_path, *extra):
    """One training iteration (batch 2) and a one-sample validation."""
    root = fixture_dir(dataset)
    opts = data_options(root, dataset, splits=('train', ), indices=2,
                        batch_size=2)
    opts += data_options(root, dataset, splits=('val', ), indices=1)
    run_tool('train.py', config, '--work-dir', tmp_path, '--cfg-options',
             NO_DOWNLOAD, 'train_cfg.max_epochs=1',
             'default_hooks.logger.interval=1',
             *opts, *extra)
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    logs = glob.glob(str(tmp_path / '*' / '*.log'))
    text = open(logs[0]).read()
    assert 'Epoch(train) [1][1/1]' in text
    return text


@pytest.mark.e2e
def test_hih_mix_trains_one_iteration(tmp_path):
    # HRNetV2-W18 with one module of one block per stage: same branches and
    # widths (270 channels into the head), a fraction of the CPU time.
    hrnet = 'model.backbone.extra'
    text = train_one_iteration(
        HIH_MIX, 'wflw', tmp_path, f'{hrnet}.stage1.num_blocks=(1,)',
        f'{hrnet}.stage2.num_blocks=(1,1)', f'{hrnet}.stage3.num_modules=1',
        f'{hrnet}.stage3.num_blocks=(1,1,1)', f'{hrnet}.stage4.num_modules=1',
        f'{hrnet}.stage4.num_blocks=(1,1,1,1)')
    assert 'NME' in text


@pytest.mark.e2e
def test_h3r_mix_trains_one_iteration(tmp_path):
    # ResNet-18 with slim deconvolutions instead of ResNet-50: the recipe's
    # codec, head and loss are what this checks, within a CPU time budget.
    text = train_one_iteration(
        H3R_MIX, 'coco', tmp_path, 'model.backbone.depth=18',
        'model.head.in_channels=512', 'model.head.deconv_out_channels=(32,'
        '32,32)')
    assert 'coco/AP' in text
