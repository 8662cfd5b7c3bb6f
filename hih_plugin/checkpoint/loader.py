"""Load MMEngine checkpoints safely, including the ones MMEngine writes.

Threat model: a ``.pth`` file may be crafted by an attacker. Loading it must
not run code, crash the interpreter, change any object outside the returned
checkpoint (classes included), or allocate far more memory than the file's
size justifies. Yet every checkpoint MMEngine 0.10.7 / MMPose 1.3.2 write
must load: they hold numpy arrays and scalars (``meta``) and MMEngine's
``HistoryBuffer`` (``message_hub``), whose statistics functions pickle as
``getattr(HistoryBuffer, 'min')``.

torch's own ``weights_only`` unpickler refuses those, and allow-listing them
there (``add_safe_globals``) hands a checkpoint numpy's raw constructors
(object arrays over attacker bytes, free offsets: segfaults) and
``HistoryBuffer.__setstate__`` (rewrites class state). So :func:`load_file`
checks the file's format (:mod:`.file_format`: the zip of ``torch.save``,
pickle protocol 2) and gives ``torch.load`` a fully restricted unpickler of
ours as ``pickle_module`` (:mod:`.unpickler`), whose globals resolve only to
vetted functions (:mod:`.reconstructors`). Any refusal is a
:class:`~hih_plugin.errors.CheckpointError`: one line naming the cause,
quoting file content only through bounded summaries.

Importing this package changes nothing in MMEngine. :func:`enable` makes
:func:`load_from_local` MMEngine's loader of local files
(``CheckpointLoader``), so the runner's ``load_from``, ``resume`` and
``init_cfg=dict(type='Pretrained')`` go through it too; see
docs/checkpoints.md.
"""
import os.path as osp
import re
import types

import torch
from mmengine.runner.checkpoint import CheckpointLoader

from ..errors import CheckpointError
from .file_format import zip_records
from .unpickler import RestrictedUnpickler, check_structure

# of a multiple of the file size for the unpickled structure.
_BUDGET_SLACK = 64 << 20


def _first_line(err):
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f'{type(err).__name__}: {lines[0] if lines else repr(err)}'[:300]


def torch_refusal(err: Exception) -> str:
    """The cause in torch's weights-only refusal, without its advice."""
    text = str(err)
    for marker in ('WeightsUnpickler error:', 'Unsupported global:'):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    cause = lines[0] if lines else type(err).__name__
    # "... Please use `torch.serialization.add_safe_globals(...)`" and the
    # like are advice, not the cause
    return re.split(r'\. Please |; Please ', cause)[0][:300]


def load_file(path: str, map_location='cpu'):
    """Load a ``torch.save`` file with the restricted unpickler.

    Returns:
        The unpickled object: an MMEngine checkpoint dict, a state dict, or
        any nesting of the allowed types.

    Raises:
        CheckpointError: one line naming why the file is refused.
    """
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(f'cannot read checkpoint {path}: the file is '
                              'empty')
    unpickler = type(
        'Unpickler', (RestrictedUnpickler, ),
        dict(_records=zip_records(path, size), _budget=3 * size +
             _BUDGET_SLACK))
    module = types.SimpleNamespace(__name__=__name__, Unpickler=unpickler)
    try:
        # Our unpickler replaces torch's weights-only one and is stricter:
        # it accepts only the vetted globals above (see the module doc).
        obj = torch.load(path, map_location=map_location,
                         pickle_module=module, weights_only=False)
        check_structure(obj)
    except CheckpointError as err:
        raise CheckpointError(
            f'refused to load the checkpoint {path}: it holds {err}; only '
            'load checkpoints from sources you trust') from None
    except Exception as err:  # noqa: BLE001  any failure is a bad file
        raise CheckpointError(
            f'cannot read checkpoint {path}: {_first_line(err)}. Is it a '
            'complete .pth file written by torch.save?') from None
    return obj


def load_from_local(filename, map_location=None):
    """MMEngine's loader of local checkpoints, through :func:`load_file`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_file(filename, map_location)


def enable_safe_loader() -> None:
    """Make MMEngine load local checkpoints with :func:`load_file`.

    MMEngine's runner (``load_from``, ``resume``), ``load_checkpoint`` and
    ``init_cfg=dict(type='Pretrained')`` all read local files through
    ``CheckpointLoader``'s scheme ``''``; this replaces its loader for the
    rest of the process. Configs call it by importing
    :mod:`hih_plugin.checkpoint.enable`; see docs/checkpoints.md.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)
