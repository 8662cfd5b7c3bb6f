"""RandomGaussianBlur and the configs' training pipelines: every random
transform draws from numpy's global RNG, which MMEngine seeds, so the same
seed gives the same batches."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, fixture_dir
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmpose.registry import DATASETS, TRANSFORMS

import hih_plugin  # noqa: F401  registers our parts

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'mix', '*.py')))


def pipeline_batches(cfg, seed):
    set_random_seed(seed, deterministic=True)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return [dataset[i % len(dataset)] for i in range(16)]


@pytest.mark.timeout(60)
def test_same_seed_same_hih_wflw_batches():
    root = fixture_dir('wflw')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hih_wflw.py'))
    cfg.train_dataloader.dataset.update(
        data_root=root, ann_file='test_wflw.json', data_prefix=dict(img=''))
    init_default_scope('mmpose')
    a, b = pipeline_batches(cfg, 0), pipeline_batches(cfg, 0)
    for x, y in zip(a, b):
        assert torch.equal(x['inputs'], y['inputs'])
        assert np.array_equal(x['data_samples'].gt_fields.heatmaps,
                              y['data_samples'].gt_fields.heatmaps)
    c = pipeline_batches(cfg, 1)
    assert not all(torch.equal(x['inputs'], y['inputs'])
                   for x, y in zip(a, c))


def test_random_gaussian_blur_draws_from_the_seeded_numpy_rng():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    blur = TRANSFORMS.build(dict(type='RandomGaussianBlur', prob=1.,
                                 kernel_size=(3, 7)))
    np.random.seed(0)
    outs = [blur(dict(img=img.copy()))['img'] for _ in range(30)]
    blurred = {k: cv2.GaussianBlur(img, (k, k), 0) for k in (3, 5, 7)}
    sizes = [next(k for k, b in blurred.items() if np.array_equal(o, b))
             for o in outs]
    assert set(sizes) == {3, 5, 7}  # every odd size in the range is drawn
    np.random.seed(0)
    assert all(np.array_equal(blur(dict(img=img.copy()))['img'], o)
               for o in outs)
    never = TRANSFORMS.build(dict(type='RandomGaussianBlur', prob=0.))
    assert np.array_equal(never(dict(img=img.copy()))['img'], img)
    with pytest.raises(ValueError, match='odd'):
        TRANSFORMS.build(dict(type='RandomGaussianBlur', kernel_size=(2, 6)))


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_no_config_uses_albumentations(config):
    """albumentations' RNG is out of MMEngine's reach (see
    RandomGaussianBlur); every other random transform of ours draws from
    numpy's global RNG, which MMEngine seeds."""
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    assert not any(t['type'] == 'Albumentation' for t in pipeline)
