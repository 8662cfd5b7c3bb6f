"""configs/h3r_wflw*.py: what they inherit, and the models they build."""
import math
import os.path as osp

import mmpose
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmpose.evaluation.metrics import NME
from mmpose.registry import KEYPOINT_CODECS, MODELS
from tool_options import TINY_HRNET

import hih_plugin  # noqa: F401  registers the H3R parts

STOCK = Config.fromfile(osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', 'face_2d_keypoint',
    'topdown_heatmap', 'wflw', 'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py'))


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


@pytest.mark.parametrize('name,size', [('h3r_wflw.py', 64),
                                       ('h3r_wflw_hm16.py', 16)])
def test_codec_is_h3r_everywhere(name, size):
    cfg = load(name)
    codec = dict(type='H3RHeatmap', input_size=(256, 256),
                 heatmap_size=(size, size), topk=9)
    encoder = cfg.train_dataloader.dataset.pipeline[-2].encoder
    for c in (cfg.codec, cfg.model.head.decoder, encoder):
        assert c.to_dict() == codec  # no MSRA sigma, no leftover _delete_
        KEYPOINT_CODECS.build(c)
    assert cfg.model.head.type == 'H3RHead'
    assert cfg.model.head.loss.to_dict() == dict(
        type='H3RLoss', mode='bce', use_target_weight=True)
    assert cfg.model.test_cfg.to_dict() == dict(flip_test=True)
    assert 'hih_plugin' in cfg.custom_imports.imports


def as_stock(x):
    """Drop the `_scope_` keys that `mmpose::` inheritance adds, and read
    our LoadCheckedImage as the stock LoadImage it stands in for."""
    if isinstance(x, dict):
        if x.get('type') == 'LoadCheckedImage':
            return dict(type='LoadImage')
        return {k: as_stock(v) for k, v in x.items() if k != '_scope_'}
    if isinstance(x, (list, tuple)):
        return type(x)(as_stock(v) for v in x)
    return x


def test_everything_else_is_the_stock_hrnetv2_w18_config():
    cfg = load('h3r_wflw.py')
    for key in ('model.backbone', 'model.neck', 'model.data_preprocessor',
                'optim_wrapper', 'param_scheduler', 'train_cfg',
                'val_dataloader', 'default_hooks'):
        ours, stock = cfg, STOCK
        for part in key.split('.'):
            ours, stock = ours[part], stock[part]
        if key == 'default_hooks':  # plus our guard against NaN losses
            ours = {k: v for k, v in ours.items() if k != 'nonfinite'}
        assert as_stock(ours) == as_stock(stock), key
    # the stock NME, with its WFLW default eye corners spelled out for the
    # FR@10 and AUC@10 metric next to it
    nme = dict(as_stock(cfg.val_evaluator[0]))
    indices = nme.pop('keypoint_indices')
    assert nme == as_stock(STOCK.val_evaluator)
    assert indices == NME.DEFAULT_KEYPOINT_INDICES['wflw']
    assert cfg.val_evaluator[1].type == 'FailureRateAUC'
    head = {k: v for k, v in cfg.model.head.items()
            if k not in ('type', 'loss', 'decoder', 'init_cfg')}
    assert head == {k: v for k, v in STOCK.model.head.items()
                    if k not in ('type', 'loss', 'decoder')}
    ours = as_stock(cfg.train_pipeline)
    stock = as_stock(STOCK.train_pipeline)
    assert ours[:-2] == stock[:-2] and ours[-1] == stock[-1]


@pytest.mark.parametrize('name,size', [('h3r_wflw.py', 64),
                                       ('h3r_wflw_hm16.py', 16)])
def test_model_outputs_heatmaps_of_the_codec_size(name, size):
    cfg = load(name)
    cfg.merge_from_dict(TINY_HRNET)
    model = MODELS.build(cfg.model)
    model.init_weights()
    bias = model.head.final_layer.bias
    # the BCE prior, from H3RHead's default init: sigmoid(bias) = 1 / (H*W)
    torch.testing.assert_close(
        bias, torch.full_like(bias, -math.log(size**2 - 1)))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 256, 256), None, mode='tensor')
    assert out.shape == (1, 98, size, size)
