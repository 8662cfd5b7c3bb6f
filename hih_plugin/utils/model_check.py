"""Refuse a checkpoint that does not fit the model, before it is used.

MMEngine loads checkpoints non-strictly: a checkpoint of another model (other
keypoint count, other head, other backbone) only logs a warning, and the run
goes on with randomly initialised layers and reports meaningless numbers or
draws meaningless keypoints. ``tools/test.py``, ``tools/demo.py`` and
``tools/publish_model.py`` check the checkpoint against the model first and
stop with the list of mismatched keys.
"""
import os.path as osp
import pickle
import re

import torch
from mmengine.model import is_model_wrapper

from .checkpoint import allow_mmengine_checkpoints
from .cli import UserError

# How many names of each kind of mismatch the error lists before "... and N
# more": enough to recognise the other model, short enough to read.
_SHOW = 4


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint file with ``weights_only=True`` and the allow-list.

    Returns the checkpoint as a dict with a ``state_dict`` entry; a bare
    state dict (as ``torch.save(model.state_dict())`` writes) is wrapped.
    """
    if not osp.isfile(path):
        raise UserError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' in str(err):
            raise  # a refused global: cli_main explains the allow-list
        raise _unreadable(path, err)
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise _unreadable(path, err)
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        state = ckpt['state_dict']
    elif isinstance(ckpt, dict):
        state, ckpt = ckpt, {'state_dict': ckpt}
    else:
        state = None
    if not state or not all(isinstance(v, torch.Tensor)
                            for v in state.values()):
        raise UserError(f'{path} holds no model weights (expected a dict of '
                        'tensors, or an MMEngine checkpoint with a '
                        '"state_dict" entry)')
    # Weights saved from a DistributedDataParallel model carry a "module."
    # prefix; MMEngine's load_checkpoint strips it the same way.
    ckpt['state_dict'] = {
        re.sub(r'^module\.', '', k): v
        for k, v in state.items()
    }
    return ckpt


def _unreadable(path, err):
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    # torch's weights-only message buries the cause among advice lines
    reason = next((ln for ln in lines if 'Unsupported' in ln),
                  lines[0] if lines else repr(err))
    return UserError(f'cannot read checkpoint {path}: {reason}. Is it a '
                     'complete .pth file written by torch.save?')


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
    if is_model_wrapper(model):
        model = model.module
    ckpt = read_checkpoint(path)
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
    return ckpt


def load_checkpoint_strict(model: torch.nn.Module, path: str) -> dict:
    """Check that the checkpoint fits ``model``, then load its weights.

    Returns the checkpoint dict (its ``meta`` may carry ``dataset_meta``).
    """
    ckpt = check_checkpoint_fits(model, path)
    target = model.module if is_model_wrapper(model) else model
    # strict=False only for the num_batches_tracked buffers tolerated above;
    # every other key was checked.
    target.load_state_dict(ckpt['state_dict'], strict=False)
    return ckpt
