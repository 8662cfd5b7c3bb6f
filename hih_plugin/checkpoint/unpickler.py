"""The restricted unpickler :func:`~.loader.load_file` hands torch.load.

A pure-Python unpickler whose opcodes, globals, calls, ``BUILD`` targets
and persistent ids are each an explicit allow-list; globals resolve through
:mod:`.reconstructors`.

Every object it creates, containers and the references they hold included,
is charged to a budget proportional to the file's size, and so is each
container's size as a tree (shared parts counted at every reference), so
memo references cannot multiply a small file into gigabytes, neither in
memory nor in a walk over the result. A container takes no instance state
except torch's ``_metadata`` of a state dict, and cannot change once it is
inside another.
"""
import _compat_pickle
import pickle
import pickletools
from collections import Counter, OrderedDict
from struct import unpack

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .reconstructors import (BUILDERS, CALLABLE, GLOBALS, Pending,
                             PendingHistoryBuffer, history_buffer)
from .refusal import brief, refuse

# Nesting deeper than this is no checkpoint; it would only overflow the
# recursion of copy.deepcopy or pickle.dumps later.
_MAX_DEPTH = 100


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
        refuse('a state dict _metadata that is not module name -> '
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
        refuse(f'pickle opcode {name} (not one torch.save writes)')


def _no_pending(items):
    for item in items:
        if isinstance(item, Pending):
            refuse('an object used before its state was set')
    return items


def _check_target(obj, kind, opcode):
    if type(obj) not in kind:
        refuse(f'{opcode} on a {type(obj).__name__}')
    return obj


class RestrictedUnpickler(pickle._Unpickler):
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
            refuse(f'it unpickles to more than {self._budget >> 20} MiB, '
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
            refuse(f'a {type(container).__name__} changed after it was '
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
            refuse(f'a {type(container).__name__} that repeats shared '
                   f'parts to more than {self._budget >> 20} MiB (a memory '
                   'bomb through memo references)')
        if depth > _MAX_DEPTH:
            refuse(f'containers nested deeper than {_MAX_DEPTH} levels')
        self._size[key], self._depth[key] = size, depth
        return container

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = GLOBALS.get(f'{module}.{name}')
        if found is None:
            refuse(f'global {module[:80]}.{name[:80]}, which no '
                   'checkpoint may name')
        return found

    def load_proto(self):
        proto = self.read(1)[0]
        if proto != 2:
            refuse(f'pickle protocol {proto} (torch.save writes 2)')
        self.proto = proto

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple or not any(func is f for f in CALLABLE):
            refuse(f'a call of a {type(func).__name__} object (REDUCE)')
        self.stack[-1] = self._charge(func(*args), [args])

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        # a HistoryBuffer pickles as NEWOBJ, then BUILD with its state
        if cls is not history_buffer or args != ():
            refuse(f'creating a {type(cls).__name__} object (NEWOBJ)')
        self.append(self._charge(PendingHistoryBuffer()))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        _no_pending([state])
        if type(inst) in BUILDERS:
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
            refuse(f'setting the state of a {type(inst).__name__} (BUILD'
                   '; only a state dict\'s _metadata may be set)')

    def load_binpersid(self):
        pid = self.stack.pop()
        if (type(pid) is not tuple or len(pid) != 5 or pid[0] != 'storage'
                or type(pid[2]) is not str or type(pid[3]) is not str
                or len(pid[3]) > 64 or type(pid[4]) is not int
                or pid[4] < 0):
            refuse(f'persistent id {brief(pid)} (only storages)')
        _, storage_type, key, _, numel = pid
        dtype = getattr(storage_type, 'dtype', None)
        if (type(storage_type) is not torch.serialization.StorageType
                or not isinstance(dtype, torch.dtype)):
            refuse('a storage of unknown type')
        size = self._records.get(key)
        if size is None:
            refuse(f'storage {brief(key)} without a record in the file')
        if numel * torch._utils._element_size(dtype) > size:
            refuse(f'storage {brief(key)} of {brief(numel)} elements is '
                   f'larger than its {size}-byte record')
        self.append(self._charge(self.persistent_load(pid)))

    def _put(self, index):
        self._charge_bytes(_OP_COST)  # a memo entry
        obj = self.stack[-1]
        self.memo[index] = obj
        if isinstance(obj, Pending):
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
            refuse('SETITEMS with a key but no value')
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
        _method = getattr(RestrictedUnpickler, _fn.__name__)
        RestrictedUnpickler.dispatch[_code] = (
            _method if _name in _CHARGING else _counted(_method))

_CONTAINERS = (dict, OrderedDict, Counter, list, tuple)
_LEAVES = (str, bytes, int, float, complex, bool, type(None), torch.Tensor,
           np.ndarray, np.generic, np.dtype, HistoryBuffer)


def check_structure(obj):
    """Refuse leftovers of the unpickler and nesting no checkpoint has."""
    todo, seen = [(obj, 0)], set()
    while todo:
        item, depth = todo.pop()
        if type(item) in _CONTAINERS:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if depth >= _MAX_DEPTH:
                refuse(f'containers nested deeper than {_MAX_DEPTH} levels')
            if isinstance(item, dict):
                children = [*item.keys(), *item.values(),
                            *getattr(item, '__dict__', {}).values()]
            else:
                children = item
            todo.extend((child, depth + 1) for child in children)
        elif not isinstance(item, _LEAVES) or isinstance(item, Pending):
            refuse(f'a {type(item).__name__} object in the checkpoint')
