"""Every config's head gives the recorded outputs on the same weights.

For each pose config under configs/ and tests/configs/, the head (with its
codec) is built from the config with 3 keypoints, given weights drawn from a
fixed seed by parameter name, and run on fixed features: ``forward``,
``predict`` with the config's ``test_cfg`` and without the flip test, and
``loss`` on the codec's own targets. The outputs are compared with
``config_head_outputs.npz``, recorded from the code before a refactoring of
the head, the codec or the configs; the state dict's keys must be the
recorded ones, so checkpoints keep loading. After an intended change of the
outputs, record again with ``python
tests/test_models/test_heads/test_config_heads.py --write --all`` and say
why in the commit; ``--write`` alone records only the configs not recorded
yet (a new config).
"""
import glob
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

import hih_plugin  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)),
                     'config_head_outputs.npz')
K = 3  # keypoints: small outputs, same layers
FLIP = [2, 1, 0]
B = 2
# large arrays are recorded as these many values drawn at fixed places,
# plus their sum and sum of squares
SAMPLED = 64


def pose_configs():
    paths = sorted(
        glob.glob(osp.join(ROOT, 'configs', '*.py')) +
        glob.glob(osp.join(ROOT, 'configs', 'mix', '*.py')) +
        glob.glob(osp.join(ROOT, 'tests', 'configs', '*.py')))
    names = [osp.relpath(p, ROOT) for p in paths]
    # the detection config of the two-stage tests has no pose head
    return [n for n in names if 'head' in Config.fromfile(
        osp.join(ROOT, n)).model and 'rpn' not in n]


def fixed_weights(module, seed=0):
    """Every float parameter and buffer drawn by name from ``seed``: N(0,
    1 / fan-in) for weights, so that outputs are of order 1, and positive
    running variances."""
    state = module.state_dict()
    for i, name in enumerate(sorted(state)):
        tensor = state[name]
        if not tensor.is_floating_point():
            continue
        g = torch.Generator().manual_seed(seed * 100003 + i)
        value = torch.randn(tensor.shape, generator=g, dtype=torch.float64)
        if name.endswith('running_var'):
            value = value.abs() + 0.5
        elif tensor.dim() >= 2:
            value = value / math.sqrt(tensor[0].numel())
        else:
            value = value * 0.1
        state[name] = value.to(tensor.dtype)
    module.load_state_dict(state)


def features(cfg, module, seed):
    """What the head reads: random tensors in the shapes of its inputs."""
    head = cfg.model.head
    W, H = head.decoder.heatmap_size
    g = torch.Generator().manual_seed(seed)
    if head.get('heatmaps_from_backbone', False):
        stacks = cfg.model.backbone.get('num_stacks', 1)
        return tuple([
            torch.randn(B, K, H, W, generator=g) for _ in range(stacks)
        ] + [torch.randn(B, head.in_channels, H, W, generator=g)])
    ups = 2**sum(isinstance(m, nn.ConvTranspose2d) for m in module.modules())
    stride = (head.get('final_layer') or {}).get('stride', 1)
    return (torch.randn(B, head.in_channels, H * stride // ups,
                        W * stride // ups, generator=g), )


def data_samples(codec):
    rng = np.random.default_rng(0)
    w, h = codec.input_size
    out = []
    for _ in range(B):
        kpts = rng.uniform([4, 4], [w - 5, h - 5], (1, K, 2))
        enc = codec.encode(kpts, np.ones((1, K)))
        s = PoseDataSample(metainfo=dict(flip_indices=FLIP,
                                         input_size=codec.input_size))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        s.gt_instance_labels = InstanceData(**{
            k: torch.from_numpy(np.asarray(v))
            for k, v in enc.items() if k != 'heatmaps'
        })
        s.gt_instances = InstanceData(keypoints=kpts)
        out.append(s)
    return out


def flat(prefix, value, out):
    """Arrays of a nested output under dotted names."""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            flat(f'{prefix}.{i}', v, out)
    elif isinstance(value, dict):
        for k in sorted(value):
            flat(f'{prefix}.{k}', value[k], out)
    elif isinstance(value, InstanceData):
        flat(prefix, {k: value.get(k) for k in value.keys()}, out)
    elif isinstance(value, PixelData):
        fields = {k: value.get(k) for k in value.keys()}
        fields.update(value.metainfo)
        flat(prefix, fields, out)
    else:
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        out[prefix] = np.asarray(value, dtype=np.float64)


def record(array):
    """Small arrays whole; large ones as a fixed sample, sum, sum of
    squares."""
    if array.size <= SAMPLED:
        return array
    at = np.random.default_rng(array.size).choice(array.size, SAMPLED,
                                                  replace=False)
    flat_ = array.ravel()
    return np.concatenate([flat_[at], [flat_.sum(), (flat_**2).sum()]])


def head_outputs(name):
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(ROOT, name))
    cfg.model.head.out_channels = K
    torch.manual_seed(0)
    head = MODELS.build(cfg.model.head)
    fixed_weights(head)
    codec = KEYPOINT_CODECS.build(cfg.model.head.decoder)
    out = {}
    flat('encoded', codec.encode(
        np.array([[[10.3, 20.7], [33.1, 5.5], [40.9, 41.2]]]) *
        np.array(codec.input_size) / 64, np.ones((1, K))), out)
    feats = features(cfg, head, 1)
    head.train()
    torch.manual_seed(0)
    flat('loss', head.loss(feats, data_samples(codec), {}), out)
    head.eval()
    with torch.no_grad():
        flat('forward', head.forward(feats), out)
        test_cfg = dict(cfg.model.get('test_cfg', {}), output_heatmaps=True)
        samples = data_samples(codec)
        flat('predict', head.predict(feats, samples,
                                     dict(test_cfg, flip_test=False)), out)
        if test_cfg.get('flip_test'):
            flat('predict_flip', head.predict(
                [feats, features(cfg, head, 2)], samples, test_cfg), out)
    # float32 records: enough for the comparison at rtol 1e-6
    return ({k: record(v).astype(np.float32)
             for k, v in out.items()}, sorted(head.state_dict()))


CONFIGS = pose_configs()


@pytest.fixture(scope='module')
def reference():
    with np.load(REFERENCE, allow_pickle=False) as ref:
        return dict(ref)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_head_gives_recorded_outputs_on_same_weights(name, reference):
    outputs, keys = head_outputs(name)
    assert keys == list(reference[f'{name}|state_dict_keys']), \
        'the state dict keys changed: old checkpoints would not load'
    recorded = {
        k.split('|', 1)[1]: v
        for k, v in reference.items()
        if k.startswith(name + '|') and not k.endswith('|state_dict_keys')
    }
    assert sorted(outputs) == sorted(recorded)
    for key, value in outputs.items():
        scale = max(np.abs(recorded[key]).max(initial=0.), 1e-12)
        np.testing.assert_allclose(value, recorded[key], rtol=1e-6,
                                   atol=1e-6 * scale, err_msg=key)


def test_every_pose_config_is_recorded(reference):
    recorded = {k.split('|', 1)[0] for k in reference}
    assert recorded == set(CONFIGS)


if __name__ == '__main__' and sys.argv[1:2] == ['--write']:
    torch.set_num_threads(1)
    arrays = {}
    if '--all' not in sys.argv and osp.exists(REFERENCE):
        with np.load(REFERENCE, allow_pickle=False) as ref:
            arrays = dict(ref)
    recorded = {k.split('|', 1)[0] for k in arrays}
    for config in (c for c in CONFIGS if c not in recorded):
        outputs, keys = head_outputs(config)
        arrays.update({f'{config}|{k}': v for k, v in outputs.items()})
        arrays[f'{config}|state_dict_keys'] = np.array(keys)
        print(config, len(outputs))
    np.savez_compressed(REFERENCE, **arrays)
