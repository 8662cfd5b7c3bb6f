"""Refuse a checkpoint that does not fit the model, before it is used.

MMEngine loads checkpoints non-strictly: a checkpoint of another model (other
keypoint count, other head, other backbone) only logs a warning, and the run
goes on with randomly initialised layers and reports meaningless numbers or
draws meaningless keypoints. ``tools/test.py``, ``tools/demo.py`` and
``tools/publish_model.py`` check the checkpoint against the model first and
stop with the list of mismatched keys; ``tools/train.py --resume`` also
checks that the checkpoint can resume a run at all.
"""
import os
import os.path as osp
import re

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import load_state_dict

from ...checkpoint import load_file
from ...errors import CheckpointError, UserError
from ..files import (MAX_CHECKPOINT_BYTES, MAX_POINTER_BYTES,
                     check_regular_file, read_bounded)

# How many names of each kind of mismatch the error lists before "... and N
# more": enough to recognise the other model, short enough to read.
_SHOW = 4


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint file with the restricted unpickler of
    :mod:`hih_plugin.checkpoint`.

    Returns the checkpoint as a dict with a ``state_dict`` entry; a bare
    state dict (as ``torch.save(model.state_dict())`` writes) is wrapped.
    """
    check_checkpoint_file(path)
    return as_checkpoint(load_file(path, map_location='cpu'), path)


def check_checkpoint_file(path: str) -> None:
    """Refuse a checkpoint path that is not a regular file of at most
    ``MAX_CHECKPOINT_BYTES``, before anything opens it."""
    check_regular_file(path, 'checkpoint', MAX_CHECKPOINT_BYTES,
                       'pass a .pth file written by torch.save')


def resume_source(cfg):
    """The checkpoint a run of ``cfg`` resumes from, as MMEngine's runner
    picks it: ``cfg.load_from``, or with ``cfg.resume`` alone the one the
    work dir's ``last_checkpoint`` names; None when the run starts anew.

    The ``last_checkpoint`` file is checked whenever it exists (the runner
    reads it to resume, and rewrites it at every checkpoint): a FIFO there
    would block the run, a device fill the memory. The checkpoint itself
    must be a regular file of bounded size. Call it before the runner
    starts.
    """
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    named = None
    if osp.lexists(pointer):
        fix = ('delete it to start a new run, or resume from a checkpoint '
               'with --resume PATH')
        text = read_bounded(pointer, 'the work dir\'s last_checkpoint',
                            MAX_POINTER_BYTES, fix)
        named = text.decode('utf-8', 'replace').strip()
        if not named or not named.isprintable():
            raise UserError(f'{pointer} names no checkpoint path; {fix}')
    if not cfg.get('resume'):
        return None
    path = cfg.get('load_from') or named
    if path:
        check_checkpoint_file(path)
    return path


def as_checkpoint(ckpt, path):
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        state = ckpt['state_dict']
    elif isinstance(ckpt, dict):
        state, ckpt = ckpt, {'state_dict': ckpt}
    else:
        state = None
    if not state or not all(isinstance(k, str) and isinstance(
            v, torch.Tensor) for k, v in state.items()):
        raise UserError(f'{path} holds no model weights (expected a dict of '
                        'names to tensors, or an MMEngine checkpoint with a '
                        '"state_dict" entry)')
    # Weights saved from a DistributedDataParallel model carry a "module."
    # prefix; MMEngine's load_checkpoint strips it the same way.
    ckpt['state_dict'] = {
        re.sub(r'^module\.', '', k): v
        for k, v in state.items()
    }
    return ckpt


def _names(keys):
    keys = sorted(keys)
    shown = ', '.join(keys[:_SHOW])
    return shown + (f', ... and {len(keys) - _SHOW} more'
                    if len(keys) > _SHOW else '')


def state_dict_mismatch(model_state: dict, ckpt_state: dict):
    """Keys the checkpoint lacks, keys it has extra, and shape mismatches.

    ``num_batches_tracked`` buffers are ignored when missing, as MMEngine
    does: older checkpoints lack them and BatchNorm works without them.
    """
    missing = [
        k for k in model_state
        if k not in ckpt_state and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in ckpt_state if k not in model_state]
    shapes = [(k, tuple(ckpt_state[k].shape), tuple(v.shape))
              for k, v in sorted(model_state.items())
              if k in ckpt_state and ckpt_state[k].shape != v.shape]
    return missing, unexpected, shapes


def check_checkpoint_fits(model: torch.nn.Module, path: str) -> dict:
    """Read the checkpoint at ``path`` and refuse it unless it fits ``model``.

    Returns:
        dict: the checkpoint, with its ``state_dict`` keys as the model's.

    Raises:
        UserError: naming the missing, unexpected and shape-mismatched keys.
    """
    ckpt = read_checkpoint(path)
    _check_fits(model, ckpt, path)
    return ckpt


def _check_fits(model, ckpt, path):
    if is_model_wrapper(model):
        model = model.module
    missing, unexpected, shapes = state_dict_mismatch(model.state_dict(),
                                                      ckpt['state_dict'])
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing key(s): {_names(missing)}')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected key(s): '
                         f'{_names(unexpected)}')
        if shapes:
            shown = '; '.join(f'{k} checkpoint {c} vs model {m}'
                              for k, c, m in shapes[:_SHOW])
            more = (f'; ... and {len(shapes) - _SHOW} more'
                    if len(shapes) > _SHOW else '')
            parts.append(f'{len(shapes)} shape mismatch(es): {shown}{more}')
        raise UserError(
            f'checkpoint {path} does not fit the model of this config '
            f'({"; ".join(parts)}). It was trained with another config: '
            'pass the config it was trained with')


def check_resume_fits(model: torch.nn.Module, cfg) -> None:
    """Refuse to resume from a checkpoint that cannot resume this run.

    The checkpoint is ``cfg.load_from``, or with ``cfg.resume`` alone the
    latest one in ``cfg.work_dir``, as MMEngine's runner picks it. It must
    fit the model (as for testing) and hold what resuming restores: the
    epoch and iteration in ``meta`` and the ``message_hub``.
    """
    path = resume_source(cfg)
    if path is None:
        return  # MMEngine starts a new run
    try:
        raw = load_file(path, map_location='cpu')
    except CheckpointError as err:
        earlier = _earlier_resumable(path)
        fix = (f'the newest earlier checkpoint that loads is {earlier}: '
               f'resume from it with --resume {earlier}' if earlier else
               'no earlier checkpoint next to it loads: train from the '
               'start with a new --work-dir')
        raise CheckpointError(f'{err}; {fix}') from None
    problem = _resume_problem(raw, path)
    if problem:
        raise UserError(f'{problem}. To start a new run from its weights, '
                        f'pass --cfg-options load_from={path} instead of '
                        '--resume')
    _check_fits(model, as_checkpoint(raw, path), path)


def _resume_problem(raw, path):
    """Why the loaded checkpoint ``raw`` cannot resume a run, or None."""
    if not (isinstance(raw, dict) and isinstance(raw.get('state_dict'),
                                                 dict)):
        return (f'{path} is a bare state dict (weights only): it has no '
                'iteration counter, optimizer or message hub to resume')
    meta = raw.get('meta')
    if not (isinstance(meta, dict) and 'epoch' in meta and 'iter' in meta):
        return f'{path} has no meta epoch and iter, so the run cannot resume'
    if not isinstance(raw.get('message_hub'), dict):
        return (f'{path} has no message_hub (it was stripped, e.g. for '
                'release), so the run cannot resume')
    return None


def _earlier_resumable(path):
    """The newest checkpoint next to ``path``, not newer than it, that
    loads and can resume a run; None if there is none."""
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        return None
    try:
        newest = os.stat(path).st_mtime
    except OSError:
        newest = float('inf')
    candidates = []
    for name in os.listdir(folder):
        other = osp.join(folder, name)
        if (not name.endswith('.pth') or not osp.isfile(other)
                or osp.realpath(other) == osp.realpath(path)
                or osp.getsize(other) > MAX_CHECKPOINT_BYTES):
            continue
        mtime = os.stat(other).st_mtime
        if mtime <= newest:
            candidates.append((mtime, _step(name), other))
    for _, _, other in sorted(candidates, reverse=True):
        try:
            if _resume_problem(load_file(other), other) is None:
                return other
        except CheckpointError:
            continue
    return None


def _step(name):
    """The number in ``epoch_12.pth`` or ``iter_3000.pth`` (-1 without),
    which orders checkpoints saved within the same second."""
    found = re.search(r'(\d+)\.pth$', name)
    return int(found.group(1)) if found else -1


def load_checkpoint_strict(model: torch.nn.Module, path: str) -> dict:
    """Check that the checkpoint fits ``model``, then load its weights.

    The file is read once, by the restricted loader
    (:func:`read_checkpoint`), whether or not MMEngine's loader of local
    files is ours yet; MMEngine's ``load_state_dict`` then loads the
    weights strictly (it ignores missing ``num_batches_tracked`` buffers,
    as :func:`state_dict_mismatch` does).

    Returns the checkpoint dict (its ``meta`` may carry ``dataset_meta``).
    """
    ckpt = check_checkpoint_fits(model, path)
    load_state_dict(model, ckpt['state_dict'], strict=True, logger='current')
    return ckpt
