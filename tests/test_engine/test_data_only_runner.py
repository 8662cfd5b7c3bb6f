"""DataOnlyRunner: no text in a checkpoint runs as a config. The end-to-end
check, through ``tools/train.py --resume``, is in
tests/test_tools/test_train_test_resume.py (marked checkpoint_code)."""
from collections import OrderedDict

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel
from mmengine.registry import RUNNERS, DefaultScope
from mmengine.visualization import Visualizer

from hih_plugin.engine import DataOnlyRunner


def code_that_touches(canary):
    """Config text that creates the file ``canary`` when it runs."""
    return f"x = __import__('os').system('touch {canary}')\n"


class _Net(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(inputs)


@pytest.fixture
def restore_current_instances():
    """A Runner makes itself the process's current default scope (the
    registries other tests build from), message hub, visualizer and
    logger: put the earlier ones back."""
    managers = (DefaultScope, MessageHub, Visualizer, MMLogger)
    saved = [OrderedDict(m._instance_dict) for m in managers]
    yield
    for manager, instances in zip(managers, saved):
        manager._instance_dict = instances


def test_mmengine_config_runs_config_text_as_code(tmp_path):
    """What MMEngine's resume does with ``meta['config']``."""
    canary = tmp_path / 'ran'
    Config.fromstring(code_that_touches(canary), file_format='.py')
    assert canary.exists()


@pytest.mark.checkpoint_code
def test_load_checkpoint_drops_config_texts_without_running_them(
        tmp_path, restore_current_instances):
    canary = tmp_path / 'ran'
    net = _Net()
    path = tmp_path / 'crafted.pth'
    torch.save(
        dict(
            meta=dict(epoch=1, iter=1, config=code_that_touches(canary)),
            state_dict=net.state_dict(),
            message_hub=dict(
                log_scalars={}, resumed_keys={},
                runtime_info=dict(cfg=code_that_touches(canary), iter=1))),
        path)
    runner = DataOnlyRunner(model=net, work_dir=str(tmp_path / 'work'),
                            experiment_name='test_data_only_runner')
    checkpoint = runner.load_checkpoint(str(path))
    assert checkpoint['meta'] == dict(epoch=1, iter=1)
    assert checkpoint['message_hub']['runtime_info'] == dict(iter=1)
    assert torch.equal(checkpoint['state_dict']['fc.weight'], net.fc.weight)
    assert not canary.exists()


def test_a_config_names_it_with_runner_type():
    assert RUNNERS.get('DataOnlyRunner') is DataOnlyRunner
