"""StopOnNonFiniteHook: it refuses to save NaN/inf weights, and every
config of ours runs with it. Its end-to-end runs are in
tests/test_tools/test_run_reliability.py."""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpose.registry import HOOKS

import hih_plugin  # noqa: F401  registers our parts
from hih_plugin.engine import NonFiniteTrainingError

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'mix', '*.py')))


def test_checkpoint_with_non_finite_weights_is_refused():
    hook = HOOKS.build(dict(type='StopOnNonFiniteHook'))
    hub = MessageHub.get_instance('test_nonfinite_ckpt')
    runner = SimpleNamespace(message_hub=hub, iter=7, epoch=3)
    hub.update_info('last_ckpt', 'work/epoch_2.pth')
    good = dict(state_dict=dict(w=torch.ones(3), n=torch.tensor(5)))
    hook.before_save_checkpoint(runner, good)
    hub.update_info('last_ckpt', 'work/epoch_3.pth')  # about to be written
    bad = dict(state_dict=dict(w=torch.tensor([1., float('inf')])))
    with pytest.raises(NonFiniteTrainingError,
                       match=r'weight w holds NaN/inf.*epoch_2\.pth'):
        hook.before_save_checkpoint(runner, bad)


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_every_config_registers_the_non_finite_hook(config):
    cfg = Config.fromfile(config)
    assert cfg.default_hooks.nonfinite == dict(type='StopOnNonFiniteHook')
