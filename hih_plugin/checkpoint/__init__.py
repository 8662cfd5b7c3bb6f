"""The restricted checkpoint loader (see :mod:`.loader`).

Importing this package changes nothing in MMEngine: :func:`enable_safe_loader`
(or importing :mod:`hih_plugin.checkpoint.enable`, as our configs do) turns
it on for MMEngine's loading of local files.
"""
from ..errors import CheckpointError
from .loader import (enable_safe_loader, load_file, load_from_local,
                     torch_refusal)

__all__ = [
    'CheckpointError', 'enable_safe_loader', 'load_file', 'load_from_local',
    'torch_refusal'
]
