"""The vetted reconstructors: what each global a checkpoint names becomes.

A global resolves only to a function of this module, never to the real
class:

- tensors: torch's ``_rebuild_tensor_v2`` / ``_rebuild_parameter`` behind
  argument checks (storages come only from records of the file, checked by
  the unpickler);
- numpy arrays and scalars: rebuilt from their pickled bytes with
  ``np.frombuffer``, plain numeric dtypes only, the element count checked
  against those bytes; ``numpy.ndarray(...)`` itself is never callable;
- ``HistoryBuffer``: built through its constructor from validated numeric
  histories; ``getattr`` only for ``min``, ``max``, ``current`` and ``mean``
  of exactly that class, and the functions it names are dropped (the
  constructor registers MMEngine's own), never applied to class state.

Objects that pickle as a call followed by ``BUILD`` (a dtype, an array, a
``HistoryBuffer``) exist as a :class:`Pending` placeholder until their
state is checked.
"""
from collections import Counter, OrderedDict
from math import prod

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .refusal import brief, refuse

# The statistics MMEngine registers on HistoryBuffer (_set_default_statistics)
_STATISTICS = ('min', 'max', 'current', 'mean')
# dtype strings numpy pickles for bool, integer, float and complex types
_NUMERIC = {'b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4',
            'f8', 'c8', 'c16'}
_MAX_DIMS = 32


def _ordered_dict(*args):
    if args:
        refuse('collections.OrderedDict called with arguments')
    return OrderedDict()


def _counter(counts):
    # MultiStepLR's milestones: Counter({40: 1, 55: 1})
    if type(counts) is not dict or not all(
            type(k) in (int, float, str) and type(v) is int
            for k, v in counts.items()):
        refuse('collections.Counter of anything but numbers')
    return Counter(counts)


def _latin1(text, encoding):
    # pickle protocol 2 writes bytes as _codecs.encode(str, 'latin1')
    if type(text) is not str or encoding != 'latin1':
        refuse(f'_codecs.encode with encoding {brief(encoding)} '
               '(only latin1)')
    return text.encode('latin1')


def _empty_bytes(*args):
    if args:
        refuse('builtins.bytes called with arguments')
    return b''


def _ndarray(*args):
    refuse('a direct call of numpy.ndarray(...) (arrays load only from '
           'their own pickled bytes)')


def _reconstruct(subtype, shape, typecode):
    if subtype is not _ndarray or shape != (0, ) or typecode != b'b':
        refuse('numpy _reconstruct with arguments numpy never writes')
    return _PendingArray()


def _dtype(spec, align=False, copy=True):
    if type(spec) is not str or spec not in _NUMERIC:
        refuse(f'numpy dtype {brief(spec)} (only plain numeric dtypes)')
    if type(align) is not bool or type(copy) is not bool:
        refuse('numpy dtype with non-boolean flags')
    return _PendingDtype(spec)


def _numeric_dtype(dtype):
    if type(dtype) is _PendingDtype:
        refuse('numpy dtype used before its state was set')
    if not isinstance(dtype, np.dtype) or dtype.str[1:] not in _NUMERIC:
        refuse(f'numpy data of type {type(dtype).__name__} as its dtype')
    return dtype


def _scalar(dtype, data):
    dtype = _numeric_dtype(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        refuse(f'numpy {dtype} scalar without its {dtype.itemsize} bytes')
    return np.frombuffer(data, dtype)[0]


def _check_history(values, name):
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            refuse(f'HistoryBuffer {name} of shape {values.shape}')
        return values
    if type(values) not in (list, tuple) or not all(
            type(v) in (int, float) for v in values):
        refuse(f'HistoryBuffer {name} that is not a list of numbers')
    return np.array(values)


def history_buffer(log_history=(), count_history=(), max_length=1000000):
    """MMEngine's HistoryBuffer, through its constructor, from numbers."""
    log = _check_history(log_history, 'log_history')
    count = _check_history(count_history, 'count_history')
    if len(log) != len(count):
        refuse('HistoryBuffer with log and count histories of unequal '
               'length')
    if type(max_length) is not int or max_length < 1:
        refuse(f'HistoryBuffer max_length {brief(max_length)}')
    return HistoryBuffer(log, count, max_length)


def _statistic(cls, name):
    # HistoryBuffer.__getstate__ pickles its statistics functions; protocol 2
    # writes HistoryBuffer.min as getattr(HistoryBuffer, 'min').
    if cls is not history_buffer or name not in _STATISTICS:
        what = 'HistoryBuffer' if cls is history_buffer else type(
            cls).__name__
        refuse(f'getattr({what}, {brief(name)}) (only HistoryBuffer.'
               f'{"/".join(_STATISTICS)})')
    return _Statistic(name)


def _no_hooks(hooks):
    if not (type(hooks) is OrderedDict and not hooks):
        refuse('a tensor with backward hooks')


def _ints(values, what, minimum):
    if (type(values) not in (tuple, list) or len(values) > _MAX_DIMS
            or not all(type(v) is int and v >= minimum for v in values)):
        refuse(f'tensor {what} {brief(values)}')
    return tuple(values)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
                       hooks, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage):
        refuse('a tensor without a storage of this file')
    if type(offset) is not int or offset < 0:
        refuse(f'tensor storage offset {brief(offset)}')
    size, stride = _ints(size, 'size', 0), _ints(stride, 'stride', 0)
    if len(size) != len(stride) or type(requires_grad) is not bool:
        refuse('tensor with inconsistent size, stride or requires_grad')
    _no_hooks(hooks)
    if metadata:
        refuse('tensor metadata')
    # torch checks size, stride and offset against the storage's bytes
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                                           requires_grad, OrderedDict())


def _rebuild_parameter(data, requires_grad, hooks):
    if type(data) is not torch.Tensor or type(requires_grad) is not bool:
        refuse('a parameter that is not built from a tensor')
    _no_hooks(hooks)
    return torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())


GLOBALS = {
    'collections.OrderedDict': _ordered_dict,
    'collections.Counter': _counter,
    '_codecs.encode': _latin1,
    'builtins.bytes': _empty_bytes,
    'builtins.getattr': _statistic,
    'torch._utils._rebuild_tensor_v2': _rebuild_tensor_v2,
    'torch._utils._rebuild_parameter': _rebuild_parameter,
    'numpy.ndarray': _ndarray,
    'numpy.dtype': _dtype,
    'mmengine.logging.history_buffer.HistoryBuffer': history_buffer,
}
for _mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    GLOBALS[f'{_mod}._reconstruct'] = _reconstruct
    GLOBALS[f'{_mod}.scalar'] = _scalar
CALLABLE = tuple(set(GLOBALS.values()))


# ------------------------------------------------- objects awaiting BUILD
class Pending:
    """An object that exists only until the BUILD that gives its state."""

    def __init__(self):
        self.memo_keys = []  # where the memo holds it until it is built


class _PendingDtype(Pending):

    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def build(self, state):
        # numpy's dtype state: (3, byteorder, None, None, None, -1, -1, 0)
        if (type(state) is not tuple or len(state) != 8
                or state[0] != 3 or state[1] not in ('<', '>', '|', '=')
                or state[2:] != (None, None, None, -1, -1, 0)):
            refuse(f'numpy dtype state {brief(state)}')
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(state[1]) if state[1] in '<>' else dtype


class _PendingArray(Pending):

    def build(self, state):
        if type(state) is not tuple or len(state) != 5 or state[0] != 1:
            refuse('numpy array state numpy never writes')
        _, shape, dtype, fortran, data = state
        dtype = _numeric_dtype(dtype)
        if (type(shape) is not tuple or len(shape) > _MAX_DIMS or not all(
                type(n) is int and n >= 0 for n in shape)):
            refuse(f'numpy array shape {brief(shape)}')
        if type(fortran) is not bool or type(data) is not bytes:
            refuse('numpy array whose data is not plain bytes (an object '
                   'array?)')
        need = prod(shape) * dtype.itemsize
        if need != len(data):
            refuse(f'numpy array of shape {brief(shape)} {dtype} needs '
                   f'{brief(need)} bytes '
                   f'but has {len(data)}')
        flat = np.frombuffer(data, dtype)
        return flat.reshape(shape, order='F' if fortran else 'C').copy('K')


class PendingHistoryBuffer(Pending):
    _KEYS = {'max_length', '_log_history', '_count_history',
             'statistics_methods'}

    def build(self, state):
        if type(state) is not dict or not set(state) <= self._KEYS:
            refuse('HistoryBuffer state with keys MMEngine never writes')
        methods = state.get('statistics_methods', {})
        if type(methods) is not dict or not all(
                type(v) is _Statistic and v.name == k
                for k, v in methods.items()):
            refuse('HistoryBuffer statistics_methods other than MMEngine\'s '
                   f'{"/".join(_STATISTICS)}')
        return history_buffer(
            state.get('_log_history', ()), state.get('_count_history', ()),
            state.get('max_length', 1000000))


class _Statistic:
    """``getattr(HistoryBuffer, name)``: a name, never the function."""

    def __init__(self, name):
        self.name = name


BUILDERS = (_PendingDtype, _PendingArray, PendingHistoryBuffer)
