"""Hooks that stop a training run before it rots silently."""
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from ..errors import UserError


class NonFiniteTrainingError(UserError):
    """A loss or a weight became NaN/inf; training stops with one line."""


def _value(v) -> float:
    if isinstance(v, torch.Tensor):
        return v.detach().float().mean().item()
    return float(v)


@HOOKS.register_module()
class StopOnNonFiniteHook(Hook):
    """Stop training at the first non-finite loss, and never save a
    checkpoint with non-finite weights.

    MMEngine's ``CheckInvalidLossHook`` does the first part at an interval
    with a bare ``assert``. This hook checks every iteration, before the
    checkpoint and logger hooks run, and raises
    :class:`NonFiniteTrainingError` naming the iteration and each loss term,
    so that ``tools/train.py`` ends with one ``error:`` line and exit
    status 2. In distributed training the verdict is all-reduced, so every
    rank stops at the same iteration. The optimizer step of that iteration
    has already been taken, so the weights in memory are suspect: the error
    is raised before any hook can save them, and the last checkpoint
    written stays the last good one. As a second line of defence, a
    checkpoint whose ``state_dict`` holds a NaN/inf tensor (weights that
    diverged while the loss was still finite) is refused in
    ``before_save_checkpoint``.

    Our configs add it as ``default_hooks.nonfinite``::

        default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.last_good = None

    def before_train(self, runner) -> None:
        # a resumed run finds the checkpoint it resumed from here
        self.last_good = runner.message_hub.get_info('last_ckpt')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        terms = {k: _value(v) for k, v in outputs.items() if 'loss' in k}
        # Every rank stops at the same iteration, none waits for a dead one.
        bad = torch.tensor(
            [0. if all(map(math.isfinite, terms.values())) else 1.])
        all_reduce(bad)
        if not bad.item():
            return
        values = ', '.join(f'{k}={v:.6g}' for k, v in terms.items())
        raise NonFiniteTrainingError(
            f'training stopped: non-finite loss at iteration '
            f'{runner.iter + 1} (epoch {runner.epoch + 1}, batch '
            f'{batch_idx + 1}): {values}. {self._last_good(runner)} '
            'Lower the learning rate (or add gradient clipping: '
            'optim_wrapper.clip_grad), and check the annotations for '
            'NaN/inf values.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for name, tensor in checkpoint.get('state_dict', {}).items():
            if isinstance(tensor, torch.Tensor) and \
                    tensor.is_floating_point() and \
                    not bool(torch.isfinite(tensor).all()):
                raise NonFiniteTrainingError(
                    f'training stopped at iteration {runner.iter} (epoch '
                    f'{runner.epoch}): weight {name} holds NaN/inf values, '
                    f'so no checkpoint was written. '
                    f'{self._last_good(runner)} Lower the learning rate '
                    '(or add gradient clipping: optim_wrapper.clip_grad).')
        # CheckpointHook names the file it is about to write here
        self.last_good = runner.message_hub.get_info('last_ckpt')

    def _last_good(self, runner) -> str:
        if self.last_good:
            return f'The last good checkpoint is {self.last_good}.'
        return 'No checkpoint had been saved yet.'
