"""Safe saving and loading of MMEngine checkpoints under ``weights_only=True``.

Since torch 2.6, ``torch.load`` refuses every global that is not allow-listed.
MMEngine 0.10.7 puts numpy scalars and arrays and its own ``HistoryBuffer``
into ``message_hub``, so stock resume and test fail. We allow-list exactly
those classes rather than pass ``weights_only=False``: a checkpoint that
smuggles any other object (e.g. an ``os.system`` reduce) is still refused.

``HistoryBuffer.__getstate__`` also pickles its statistics functions, which
protocol 2 (the one ``torch.save`` uses) writes as ``getattr(HistoryBuffer,
'min')``. Allow-listing ``getattr`` would let a checkpoint reach any attribute
of any allowed object, so instead we register a ``copyreg`` reducer that
pickles a buffer as a plain constructor call. The statistics functions are
class-level and restored by ``HistoryBuffer.__init__``.
"""
import copyreg

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _reduce_history_buffer(buffer: HistoryBuffer):
    return HistoryBuffer, (buffer._log_history, buffer._count_history,
                           buffer.max_length)


def _numpy_globals():
    multiarray = np._core.multiarray if hasattr(np, '_core') \
        else np.core.multiarray
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64,
                                    np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.bool_)
    ]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
        *dtype_classes
    ]


# `bytes`: pickle protocol 2 (torch.save's) writes an empty bytes object as a
# call to `bytes()`; numpy emits one for every empty array, e.g. the
# `skeleton_link_colors` of a dataset without skeleton (WFLW) in `meta`.
MMENGINE_CHECKPOINT_GLOBALS = (*_numpy_globals(), bytes, HistoryBuffer)


def allow_mmengine_checkpoints() -> None:
    """Allow-list the classes an MMEngine checkpoint holds, and nothing more,
    and make the checkpoints saved from now on loadable with that list."""
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
