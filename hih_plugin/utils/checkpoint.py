"""Safe loading of MMEngine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` refuses every global that is not allow-listed.
MMEngine 0.10.7 saves numpy scalars and arrays and its own ``HistoryBuffer``
in ``message_hub`` and ``meta``, so stock resume and test fail. We allow-list
exactly those classes rather than pass ``weights_only=False``: a checkpoint
that smuggles any other object (e.g. an ``os.system`` reduce) is still refused.
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


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
    """Allow-list the classes an MMEngine checkpoint holds, and nothing more."""
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
