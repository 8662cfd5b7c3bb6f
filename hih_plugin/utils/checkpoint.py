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
gives ``torch.load`` a fully restricted unpickler of ours as
``pickle_module``: a pure-Python unpickler whose opcodes, globals, calls,
``BUILD`` targets and persistent ids are each an explicit allow-list. A
global resolves only to a vetted function, never to the real class:

- tensors: torch's ``_rebuild_tensor_v2`` / ``_rebuild_parameter`` behind
  argument checks; storages only from records of this zip, no larger than
  the record;
- numpy arrays and scalars: rebuilt from their pickled bytes with
  ``np.frombuffer``, plain numeric dtypes only, the element count checked
  against those bytes; ``numpy.ndarray(...)`` itself is never callable;
- ``HistoryBuffer``: built through its constructor from validated numeric
  histories; ``getattr`` only for ``min``, ``max``, ``current`` and ``mean``
  of exactly that class, and the functions it names are dropped (the
  constructor registers MMEngine's own), never applied to class state.

Every object the unpickler creates, containers and the references they
hold included, is charged to a budget proportional to the file's size, and
so is each container's size as a tree (shared parts counted at every
reference), so memo references cannot multiply a small file into gigabytes,
neither in memory nor in a walk over the result. A container takes no
instance state except torch's ``_metadata`` of a state dict, and cannot
change once it is inside another. Only the zip format of ``torch.save`` (the
default since torch 1.6, what MMEngine writes), starting at byte 0, with
uncompressed records and pickle protocol 2 is accepted: anything else would
send ``torch.load`` down its legacy tar path. Any refusal is a
:class:`CheckpointError`: one line naming the cause, quoting file content
only through bounded summaries.

Importing ``hih_plugin`` registers :func:`load_from_local` as MMEngine's
loader of local files (``CheckpointLoader``), so the runner's ``load_from``,
``resume`` and ``init_cfg=dict(type='Pretrained')`` go through it too.
"""
import _compat_pickle
import os.path as osp
import pickle
import pickletools
import re
import types
import zipfile
from collections import Counter, OrderedDict
from math import prod
from struct import unpack

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .cli import UserError


class CheckpointError(UserError):
    """A checkpoint refused as unsafe or unreadable; the message is one
    line naming the cause."""

    def __init__(self, msg) -> None:
        # the cause may quote file content (a tensor's repr spans lines)
        super().__init__(' '.join(str(msg).split()))


# The statistics MMEngine registers on HistoryBuffer (_set_default_statistics)
_STATISTICS = ('min', 'max', 'current', 'mean')
# dtype strings numpy pickles for bool, integer, float and complex types
_NUMERIC = {'b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4',
            'f8', 'c8', 'c16'}
_MAX_DIMS = 32
# Nesting deeper than this is no checkpoint; it would only overflow the
# recursion of copy.deepcopy or pickle.dumps later.
_MAX_DEPTH = 100
# Python objects cost more than their pickle opcodes: allow this much on top
# of a multiple of the file size for the unpickled structure.
_BUDGET_SLACK = 64 << 20


def _refuse(msg):
    raise CheckpointError(msg)


def _brief(obj, depth=2):
    """A short, bounded description of unpickled content for a refusal.

    Never ``repr`` of the whole object: a list built from memo references
    can be tiny in the file and gigabytes as text.
    """
    if isinstance(obj, (str, bytes)):
        text = repr(obj[:40])
        return text + ('...' if len(obj) > 40 else '')
    if isinstance(obj, (bool, float, complex, type(None))):
        return repr(obj)
    if isinstance(obj, int):
        # str() of a huge int is quadratic; its size says enough
        return str(obj) if obj.bit_length() < 64 else 'a huge int'
    if type(obj) in (tuple, list) and depth:
        inner = ', '.join(_brief(item, depth - 1) for item in obj[:4])
        more = ', ...' if len(obj) > 4 else ''
        return ('(%s%s)' if type(obj) is tuple else '[%s%s]') % (inner, more)
    shape = getattr(obj, 'shape', None)
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return f'a {type(obj).__name__} of shape {tuple(shape)}'
    size = f' of {len(obj)} items' if type(obj) in (
        tuple, list, dict, OrderedDict, Counter) else ''
    return f'a {type(obj).__name__}{size}'


# ---------------------------------------------------------------- vetted
# Each global a checkpoint may name resolves to one of these functions.

def _ordered_dict(*args):
    if args:
        _refuse('collections.OrderedDict called with arguments')
    return OrderedDict()


def _counter(counts):
    # MultiStepLR's milestones: Counter({40: 1, 55: 1})
    if type(counts) is not dict or not all(
            type(k) in (int, float, str) and type(v) is int
            for k, v in counts.items()):
        _refuse('collections.Counter of anything but numbers')
    return Counter(counts)


def _latin1(text, encoding):
    # pickle protocol 2 writes bytes as _codecs.encode(str, 'latin1')
    if type(text) is not str or encoding != 'latin1':
        _refuse(f'_codecs.encode with encoding {_brief(encoding)} '
                '(only latin1)')
    return text.encode('latin1')


def _empty_bytes(*args):
    if args:
        _refuse('builtins.bytes called with arguments')
    return b''


def _ndarray(*args):
    _refuse('a direct call of numpy.ndarray(...) (arrays load only from '
            'their own pickled bytes)')


def _reconstruct(subtype, shape, typecode):
    if subtype is not _ndarray or shape != (0, ) or typecode != b'b':
        _refuse('numpy _reconstruct with arguments numpy never writes')
    return _PendingArray()


def _dtype(spec, align=False, copy=True):
    if type(spec) is not str or spec not in _NUMERIC:
        _refuse(f'numpy dtype {_brief(spec)} (only plain numeric dtypes)')
    if type(align) is not bool or type(copy) is not bool:
        _refuse('numpy dtype with non-boolean flags')
    return _PendingDtype(spec)


def _numeric_dtype(dtype):
    if type(dtype) is _PendingDtype:
        _refuse('numpy dtype used before its state was set')
    if not isinstance(dtype, np.dtype) or dtype.str[1:] not in _NUMERIC:
        _refuse(f'numpy data of type {type(dtype).__name__} as its dtype')
    return dtype


def _scalar(dtype, data):
    dtype = _numeric_dtype(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        _refuse(f'numpy {dtype} scalar without its {dtype.itemsize} bytes')
    return np.frombuffer(data, dtype)[0]


def _check_history(values, name):
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            _refuse(f'HistoryBuffer {name} of shape {values.shape}')
        return values
    if type(values) not in (list, tuple) or not all(
            type(v) in (int, float) for v in values):
        _refuse(f'HistoryBuffer {name} that is not a list of numbers')
    return np.array(values)


def _history_buffer(log_history=(), count_history=(), max_length=1000000):
    """MMEngine's HistoryBuffer, through its constructor, from numbers."""
    log = _check_history(log_history, 'log_history')
    count = _check_history(count_history, 'count_history')
    if len(log) != len(count):
        _refuse('HistoryBuffer with log and count histories of unequal '
                'length')
    if type(max_length) is not int or max_length < 1:
        _refuse(f'HistoryBuffer max_length {_brief(max_length)}')
    return HistoryBuffer(log, count, max_length)


def _statistic(cls, name):
    # HistoryBuffer.__getstate__ pickles its statistics functions; protocol 2
    # writes HistoryBuffer.min as getattr(HistoryBuffer, 'min').
    if cls is not _history_buffer or name not in _STATISTICS:
        what = 'HistoryBuffer' if cls is _history_buffer else type(
            cls).__name__
        _refuse(f'getattr({what}, {_brief(name)}) (only HistoryBuffer.'
                f'{"/".join(_STATISTICS)})')
    return _Statistic(name)


def _no_hooks(hooks):
    if not (type(hooks) is OrderedDict and not hooks):
        _refuse('a tensor with backward hooks')


def _ints(values, what, minimum):
    if (type(values) not in (tuple, list) or len(values) > _MAX_DIMS
            or not all(type(v) is int and v >= minimum for v in values)):
        _refuse(f'tensor {what} {_brief(values)}')
    return tuple(values)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
                       hooks, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage):
        _refuse('a tensor without a storage of this file')
    if type(offset) is not int or offset < 0:
        _refuse(f'tensor storage offset {_brief(offset)}')
    size, stride = _ints(size, 'size', 0), _ints(stride, 'stride', 0)
    if len(size) != len(stride) or type(requires_grad) is not bool:
        _refuse('tensor with inconsistent size, stride or requires_grad')
    _no_hooks(hooks)
    if metadata:
        _refuse('tensor metadata')
    # torch checks size, stride and offset against the storage's bytes
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                                           requires_grad, OrderedDict())


def _rebuild_parameter(data, requires_grad, hooks):
    if type(data) is not torch.Tensor or type(requires_grad) is not bool:
        _refuse('a parameter that is not built from a tensor')
    _no_hooks(hooks)
    return torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())


_GLOBALS = {
    'collections.OrderedDict': _ordered_dict,
    'collections.Counter': _counter,
    '_codecs.encode': _latin1,
    'builtins.bytes': _empty_bytes,
    'builtins.getattr': _statistic,
    'torch._utils._rebuild_tensor_v2': _rebuild_tensor_v2,
    'torch._utils._rebuild_parameter': _rebuild_parameter,
    'numpy.ndarray': _ndarray,
    'numpy.dtype': _dtype,
    'mmengine.logging.history_buffer.HistoryBuffer': _history_buffer,
}
for _mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    _GLOBALS[f'{_mod}._reconstruct'] = _reconstruct
    _GLOBALS[f'{_mod}.scalar'] = _scalar
_CALLABLE = tuple(set(_GLOBALS.values()))


# ------------------------------------------------- objects awaiting BUILD
class _Pending:
    """An object that exists only until the BUILD that gives its state."""

    def __init__(self):
        self.memo_keys = []  # where the memo holds it until it is built


class _PendingDtype(_Pending):

    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def build(self, state):
        # numpy's dtype state: (3, byteorder, None, None, None, -1, -1, 0)
        if (type(state) is not tuple or len(state) != 8
                or state[0] != 3 or state[1] not in ('<', '>', '|', '=')
                or state[2:] != (None, None, None, -1, -1, 0)):
            _refuse(f'numpy dtype state {_brief(state)}')
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(state[1]) if state[1] in '<>' else dtype


class _PendingArray(_Pending):

    def build(self, state):
        if type(state) is not tuple or len(state) != 5 or state[0] != 1:
            _refuse('numpy array state numpy never writes')
        _, shape, dtype, fortran, data = state
        dtype = _numeric_dtype(dtype)
        if (type(shape) is not tuple or len(shape) > _MAX_DIMS or not all(
                type(n) is int and n >= 0 for n in shape)):
            _refuse(f'numpy array shape {_brief(shape)}')
        if type(fortran) is not bool or type(data) is not bytes:
            _refuse('numpy array whose data is not plain bytes (an object '
                    'array?)')
        need = prod(shape) * dtype.itemsize
        if need != len(data):
            _refuse(f'numpy array of shape {_brief(shape)} {dtype} needs '
                    f'{_brief(need)} bytes '
                    f'but has {len(data)}')
        flat = np.frombuffer(data, dtype)
        return flat.reshape(shape, order='F' if fortran else 'C').copy('K')


class _PendingHistoryBuffer(_Pending):
    _KEYS = {'max_length', '_log_history', '_count_history',
             'statistics_methods'}

    def build(self, state):
        if type(state) is not dict or not set(state) <= self._KEYS:
            _refuse('HistoryBuffer state with keys MMEngine never writes')
        methods = state.get('statistics_methods', {})
        if type(methods) is not dict or not all(
                type(v) is _Statistic and v.name == k
                for k, v in methods.items()):
            _refuse('HistoryBuffer statistics_methods other than MMEngine\'s '
                    f'{"/".join(_STATISTICS)}')
        return _history_buffer(
            state.get('_log_history', ()), state.get('_count_history', ()),
            state.get('max_length', 1000000))


class _Statistic:
    """``getattr(HistoryBuffer, name)``: a name, never the function."""

    def __init__(self, name):
        self.name = name


_BUILDERS = (_PendingDtype, _PendingArray, _PendingHistoryBuffer)


# Bytes charged per opcode (each pushes at most one reference, onto the
# stack, the memo or a container), per reference a container holds, and per
# dict entry.
_OP_COST = 32
_REF = 8
_ENTRY = 64
_SCALAR_COST = {int: 32, float: 32, bool: 0, type(None): 0, complex: 48}
_MUTABLE = (list, dict, OrderedDict)


def _cost(obj):
    """Bytes charged to the budget for an object the unpickler made."""
    kind = type(obj)  # exact types first: isinstance of a tensor is slow
    if kind in _SCALAR_COST:
        return _SCALAR_COST[kind]
    if kind is str or kind is bytes:
        return 64 + len(obj)
    if kind is list or kind is tuple:
        return 64 + _REF * len(obj)
    if kind in (dict, OrderedDict, Counter):
        return 64 + _ENTRY * len(obj)
    if isinstance(obj, np.ndarray):
        return 64 + obj.nbytes
    if isinstance(obj, HistoryBuffer):
        return 256 + obj._log_history.nbytes + obj._count_history.nbytes
    if isinstance(obj, torch.Tensor):
        return 512 + 16 * obj.dim()
    return 128


def _metadata(value):
    """torch's ``state_dict._metadata``: module prefix -> {'version': n}."""
    scalars = (int, float, str, bool, type(None))
    if type(value) not in (dict, OrderedDict) or not all(
            type(k) is str and type(v) is dict and all(
                type(kk) is str and type(vv) in scalars
                for kk, vv in v.items()) for k, v in value.items()):
        _refuse('a state dict _metadata that is not module name -> '
                '{version: number} as torch writes it')
    return value


# ----------------------------------------------------------- unpickler
# The opcodes torch.save (pickle protocol 2) writes; any other is refused.
_OPCODES = {
    'PROTO', 'STOP', 'GLOBAL', 'REDUCE', 'NEWOBJ', 'BUILD', 'BINPERSID',
    'MARK', 'TUPLE', 'TUPLE1', 'TUPLE2', 'TUPLE3', 'EMPTY_TUPLE',
    'EMPTY_LIST', 'EMPTY_DICT', 'APPEND', 'APPENDS', 'SETITEM', 'SETITEMS',
    'NONE', 'NEWTRUE', 'NEWFALSE', 'BININT', 'BININT1', 'BININT2', 'LONG1',
    'BINFLOAT', 'BINUNICODE', 'BINGET', 'LONG_BINGET', 'BINPUT',
    'LONG_BINPUT'
}
_OPCODE_NAMES = {op.code.encode('latin1')[0]: op.name
                 for op in pickletools.opcodes}


class _Dispatch(dict):

    def __missing__(self, code):
        name = _OPCODE_NAMES.get(code, f'byte 0x{code:02x}')
        _refuse(f'pickle opcode {name} (not one torch.save writes)')


def _no_pending(items):
    for item in items:
        if isinstance(item, _Pending):
            _refuse('an object used before its state was set')
    return items


def _check_target(obj, kind, opcode):
    if type(obj) not in kind:
        _refuse(f'{opcode} on a {type(obj).__name__}')
    return obj


class _Unpickler(pickle._Unpickler):
    """Pickle protocol 2, the opcodes torch.save writes, vetted calls only.

    ``torch.load`` subclasses it to map storage globals and sets its
    ``persistent_load``; :func:`load_file` sets ``_records`` (storage key to
    record size) and ``_budget`` (bytes) per file.

    Two measures bound what a file can make. ``_used`` charges each object
    once, as memory. The tree size of a container counts each of its items
    every time it is referenced, so it bounds what any walk over the result
    (``repr``, ``hash``, ``json.dumps``) costs; memo references make it grow
    exponentially with nesting while the file and ``_used`` stay small. Both
    must stay within the budget. A container can no longer change once it
    is inside another one (no legitimate pickle without cycles does that),
    so its recorded size stays true.
    """
    _records: dict = {}
    _budget = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._used = 0
        # by id: tree size and nesting depth of what the unpickler made, and
        # the containers already inside another; _alive holds each object,
        # so no id is reused while the file loads
        self._size, self._depth, self._sealed, self._alive = {}, {}, set(), []

    def _charge_bytes(self, nbytes):
        self._used += nbytes
        if self._used > self._budget:
            _refuse(f'it unpickles to more than {self._budget >> 20} MiB, '
                    'far more than the file size justifies (a memory bomb)')

    def _charge(self, obj, parts=()):
        """Charge a new object; ``parts`` are what it was made from."""
        self._charge_bytes(_cost(obj))
        return self._contain(obj, parts, new=True)

    def _contain(self, container, items, new=False):
        """Record ``items`` going into ``container``; refuse a container
        that changes after it went into another, and trees too big or
        too deep."""
        key = id(container)
        sizes, depths = self._size, self._depth
        if not new and key in self._sealed:
            _refuse(f'a {type(container).__name__} changed after it was '
                    'put into another container (a cycle, or a memo trick)')
        size, depth = sizes.get(key), depths.get(key, 0)
        if size is None:
            size = _cost(container)
            self._alive.append(container)
        for item in items:
            child = id(item)
            grown = sizes.get(child)
            if grown is None:  # a number, None, a shared empty tuple
                size += _REF + _cost(item)
                depth = depth or 1
                continue
            size += _REF + grown
            if depths[child] >= depth:
                depth = depths[child] + 1
            if type(item) in _MUTABLE:
                self._sealed.add(child)
        if size > self._budget:
            _refuse(f'a {type(container).__name__} that repeats shared '
                    f'parts to more than {self._budget >> 20} MiB (a memory '
                    'bomb through memo references)')
        if depth > _MAX_DEPTH:
            _refuse(f'containers nested deeper than {_MAX_DEPTH} levels')
        self._size[key], self._depth[key] = size, depth
        return container

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = _GLOBALS.get(f'{module}.{name}')
        if found is None:
            _refuse(f'global {module[:80]}.{name[:80]}, which no '
                    'checkpoint may name')
        return found

    def load_proto(self):
        proto = self.read(1)[0]
        if proto != 2:
            _refuse(f'pickle protocol {proto} (torch.save writes 2)')
        self.proto = proto

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple or not any(func is f for f in _CALLABLE):
            _refuse(f'a call of a {type(func).__name__} object (REDUCE)')
        self.stack[-1] = self._charge(func(*args), [args])

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        # a HistoryBuffer pickles as NEWOBJ, then BUILD with its state
        if cls is not _history_buffer or args != ():
            _refuse(f'creating a {type(cls).__name__} object (NEWOBJ)')
        self.append(self._charge(_PendingHistoryBuffer()))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        _no_pending([state])
        if type(inst) in _BUILDERS:
            built = self._charge(inst.build(state), [state])
            self.stack[-1] = built
            for key in inst.memo_keys:
                if self.memo.get(key) is inst:
                    self.memo[key] = built
        elif type(inst) is OrderedDict and type(state) is dict and set(
                state) == {'_metadata'}:
            # A module's state dict carries torch's _metadata attribute.
            # Any other instance state could shadow the container's methods
            # (a state naming "items" or "get"), so none is taken.
            self._contain(inst, [state])
            inst._metadata = _metadata(state['_metadata'])
        else:
            _refuse(f'setting the state of a {type(inst).__name__} (BUILD'
                    '; only a state dict\'s _metadata may be set)')

    def load_binpersid(self):
        pid = self.stack.pop()
        if (type(pid) is not tuple or len(pid) != 5 or pid[0] != 'storage'
                or type(pid[2]) is not str or type(pid[3]) is not str
                or len(pid[3]) > 64 or type(pid[4]) is not int
                or pid[4] < 0):
            _refuse(f'persistent id {_brief(pid)} (only storages)')
        _, storage_type, key, _, numel = pid
        dtype = getattr(storage_type, 'dtype', None)
        if (type(storage_type) is not torch.serialization.StorageType
                or not isinstance(dtype, torch.dtype)):
            _refuse('a storage of unknown type')
        size = self._records.get(key)
        if size is None:
            _refuse(f'storage {_brief(key)} without a record in the file')
        if numel * torch._utils._element_size(dtype) > size:
            _refuse(f'storage {_brief(key)} of {_brief(numel)} elements is '
                    f'larger than its {size}-byte record')
        self.append(self._charge(self.persistent_load(pid)))

    def _put(self, index):
        self._charge_bytes(_OP_COST)  # a memo entry
        obj = self.stack[-1]
        self.memo[index] = obj
        if isinstance(obj, _Pending):
            obj.memo_keys.append(index)

    def load_binput(self):
        self._put(self.read(1)[0])

    def load_long_binput(self):
        self._put(unpack('<I', self.read(4))[0])

    def load_binget(self):
        super().load_binget()
        _no_pending(self.stack[-1:])

    def load_long_binget(self):
        super().load_long_binget()
        _no_pending(self.stack[-1:])

    def load_binunicode(self):
        super().load_binunicode()
        self._charge(self.stack[-1])

    def load_empty_list(self):
        self.append(self._charge([]))

    def load_empty_dictionary(self):
        self.append(self._charge({}))

    def _tuple(self, items):
        items = _no_pending(items)
        self._charge_bytes(_cost(items))
        return self._contain(tuple(items), items, new=True)

    def load_tuple(self):
        items = self.pop_mark()  # rebinds self.append
        self.append(self._tuple(items))

    def load_tuple1(self):
        self.stack[-1:] = [self._tuple(self.stack[-1:])]

    def load_tuple2(self):
        self.stack[-2:] = [self._tuple(self.stack[-2:])]

    def load_tuple3(self):
        self.stack[-3:] = [self._tuple(self.stack[-3:])]

    def _extend(self, items):
        target = _check_target(self.stack[-1], (list, ), 'APPENDS')
        self._charge_bytes(_REF * len(items))
        self._contain(target, _no_pending(items)).extend(items)

    def load_append(self):
        self._extend([self.stack.pop()])

    def load_appends(self):
        self._extend(self.pop_mark())

    def _set_items(self, items):
        target = _check_target(self.stack[-1], (dict, OrderedDict),
                               'SETITEMS')
        if len(items) % 2:
            _refuse('SETITEMS with a key but no value')
        self._charge_bytes(_ENTRY * len(items) // 2)
        self._contain(target, _no_pending(items))
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_setitem(self):
        value = self.stack.pop()
        self._set_items([self.stack.pop(), value])

    def load_setitems(self):
        self._set_items(self.pop_mark())

    def load_stop(self):
        _no_pending(self.stack[-1:])
        super().load_stop()

    dispatch = _Dispatch()


def _counted(method):
    """Charge an opcode that pushes an object (a number, a memo reference)
    without charging it itself."""
    def op(self):
        self._used += _OP_COST
        if self._used > self._budget:
            self._charge_bytes(0)  # refuses
        method(self)
    return op


# Opcodes whose handlers charge what they make themselves
_CHARGING = {'REDUCE', 'NEWOBJ', 'BUILD', 'BINPERSID', 'BINPUT',
             'LONG_BINPUT', 'BINUNICODE', 'EMPTY_LIST', 'EMPTY_DICT', 'TUPLE',
             'TUPLE1', 'TUPLE2', 'TUPLE3', 'APPEND', 'APPENDS', 'SETITEM',
             'SETITEMS', 'PROTO', 'STOP'}
for _code, _fn in pickle._Unpickler.dispatch.items():
    _name = _OPCODE_NAMES[_code]
    if _name in _OPCODES:
        _method = getattr(_Unpickler, _fn.__name__)
        _Unpickler.dispatch[_code] = (_method if _name in _CHARGING else
                                      _counted(_method))

_CONTAINERS = (dict, OrderedDict, Counter, list, tuple)
_LEAVES = (str, bytes, int, float, complex, bool, type(None), torch.Tensor,
           np.ndarray, np.generic, np.dtype, HistoryBuffer)


def _check_structure(obj):
    """Refuse leftovers of the unpickler and nesting no checkpoint has."""
    todo, seen = [(obj, 0)], set()
    while todo:
        item, depth = todo.pop()
        if type(item) in _CONTAINERS:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if depth >= _MAX_DEPTH:
                _refuse(f'containers nested deeper than {_MAX_DEPTH} levels')
            if isinstance(item, dict):
                children = [*item.keys(), *item.values(),
                            *getattr(item, '__dict__', {}).values()]
            else:
                children = item
            todo.extend((child, depth + 1) for child in children)
        elif not isinstance(item, _LEAVES) or isinstance(item, _Pending):
            _refuse(f'a {type(item).__name__} object in the checkpoint')


_ZIP_MAGIC = b'PK\x03\x04'


def _check_layout(path, infos):
    """The zip starts at byte 0 and each record's local header names it.

    torch.load takes a file that does not start with a zip record for the
    legacy tar format, whose reader opens its members: a FIFO member blocks
    forever. Python's zipfile accepts data before the archive, which
    torch's reader would see differently, so refuse that too.
    """
    with open(path, 'rb') as f:
        if f.read(4) != _ZIP_MAGIC:
            raise CheckpointError(
                f'cannot read checkpoint {path}: it does not start with a '
                'zip record, as torch.save writes (data before the archive, '
                'or the legacy pre-1.6 format: load and re-save that with '
                'torch.save where you trust it)')
        for info in infos:
            f.seek(info.header_offset)
            raw = info.orig_filename.encode(
                'utf-8' if info.flag_bits & 0x800 else 'cp437')
            head = f.read(30)
            if (len(head) < 30 or head[:4] != _ZIP_MAGIC
                    or unpack('<H', head[26:28])[0] != len(raw)
                    or f.read(len(raw)) != raw):
                raise CheckpointError(
                    f'refused to load the checkpoint {path}: its zip '
                    f'directory and record headers disagree about '
                    f'{_brief(info.filename)} (data before the archive, or '
                    'a damaged file)')
    if infos and min(info.header_offset for info in infos) != 0:
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'zip archive does not start at byte 0')


def _zip_records(path, size):
    """Sizes of the storage records; refuse what torch.save never writes."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
            EOFError) as err:
        raise CheckpointError(
            f'cannot read checkpoint {path}: it is not a zip archive as '
            f'torch.save writes ({err}): the file is truncated or damaged, '
            'or in the legacy pre-1.6 torch.save format (load and re-save '
            'that with torch.save where you trust it)')
    _check_layout(path, infos)
    names = [info.filename for info in infos]
    prefix = names[0].split('/')[0] + '/' if names else ''
    if f'{prefix}data.pkl' not in names:
        raise CheckpointError(f'cannot read checkpoint {path}: the zip '
                              'archive has no data.pkl, so torch.save did '
                              'not write it')
    if len(set(names)) != len(names):
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'zip archive names a record twice')
    for info in infos:
        if (not info.filename.startswith(prefix)
                or info.compress_type != zipfile.ZIP_STORED):
            raise CheckpointError(
                f'refused to load the checkpoint {path}: zip record '
                f'{info.filename} is compressed or outside {prefix} '
                '(torch.save stores records uncompressed in one folder)')
    if sum(info.file_size for info in infos) > size:
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'records are larger than the file')
    start = f'{prefix}data/'
    return {
        info.filename[len(start):]: info.file_size
        for info in infos if info.filename.startswith(start)
    }


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
        'Unpickler', (_Unpickler, ),
        dict(_records=_zip_records(path, size), _budget=3 * size +
             _BUDGET_SLACK))
    module = types.SimpleNamespace(__name__=__name__, Unpickler=unpickler)
    try:
        # Our unpickler replaces torch's weights-only one and is stricter:
        # it accepts only the vetted globals above (see the module doc).
        obj = torch.load(path, map_location=map_location,
                         pickle_module=module, weights_only=False)
        _check_structure(obj)
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


def register_checkpoint_loader() -> None:
    """Make MMEngine load local checkpoints with :func:`load_file`.

    MMEngine's runner (``load_from``, ``resume``), ``load_checkpoint`` and
    ``init_cfg=dict(type='Pretrained')`` all read local files through
    ``CheckpointLoader``'s scheme ``''``; this replaces its loader.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)
