"""Structure-aware fuzzing of the checkpoint loader.

    python tools/analysis/fuzz_checkpoints.py [--seed 0] [--budget 60]
        [--case-seconds 10] [--out summary.json]

Generates checkpoint files for ``hih_plugin.checkpoint.load_file``
for ``--budget`` seconds, on one thread, and sorts every outcome:

- ``loads``: it returned, and what the tools do next (take the weights
  and ``dataset_meta``, copy it) went through;
- ``refused``: either raised a ``UserError`` (``CheckpointError`` is one)
  whose message is one line, which every tool prints as ``error: ...``
  with exit status 2;
- anything else is a bug: another exception, a multi-line or unbounded
  message, a case that takes more than ``--case-seconds`` of CPU time, or
  that waits 6 times as long (a hang).

The pickles are written at the opcode level rather than by flipping bytes
of a valid file:

- programs from scratch: scalars, containers, memo puts and gets (also of
  absent indices, and lists built from memo references nested level on
  level), ``GLOBAL`` / ``STACK_GLOBAL`` of allowed and forbidden names,
  ``REDUCE``, ``NEWOBJ``, ``BUILD`` of arbitrary state onto any object,
  storages through ``BINPERSID``, deep nesting, and the opcodes of
  protocols 0 and 3 to 5 (frames, sets, buffers, extensions, ...);
- real checkpoints (state dict with ``_metadata``, optimizer, message hub,
  numpy meta) whose opcode sequence is edited: ops deleted, repeated,
  swapped, memo indices redirected, programs from scratch inserted.

Each pickle is packed into a zip layout: torch's own, or data before the
archive, duplicate members, compressed records, records outside the
archive's folder, a missing ``data.pkl``, appended or cut bytes, and the
legacy tar format (with a FIFO member, which would block a reader that
opens it).

Prints a JSON summary: cases, outcomes, the slowest case (CPU seconds), and
the peak resident memory of the process before and after fuzzing. Exits 1 if
any case was a bug.
"""
import io
import os
import os.path as osp
import pickle
import random
import struct
import sys
import tarfile
import tempfile
import zipfile

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np
import torch

from hih_plugin.checkpoint import load_file
from hih_plugin.cli.checks.meta import checked_meta
from hih_plugin.cli.checks.model import as_checkpoint
from hih_plugin.cli.main import cli_main

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
from fuzzing import (  # noqa: E402  # isort:skip
    check_fuzz_args, fuzz, fuzz_parser, run_case)

P = pickle
GLOBALS = [
    ('collections', 'OrderedDict'), ('collections', 'Counter'),
    ('_codecs', 'encode'), ('builtins', 'bytes'), ('builtins', 'getattr'),
    ('torch._utils', '_rebuild_tensor_v2'),
    ('torch._utils', '_rebuild_parameter'), ('numpy', 'ndarray'),
    ('numpy', 'dtype'), ('numpy.core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('torch', 'FloatStorage'),
    ('torch', 'LongStorage'),
    ('mmengine.logging.history_buffer', 'HistoryBuffer'),
    # forbidden ones
    ('os', 'system'), ('builtins', 'eval'), ('builtins', 'print'),
    ('__builtin__', 'set'), ('copyreg', '_reconstructor'),
    ('torch', 'load'), ('numpy', 'frombuffer'), ('builtins', 'list'),
]
STRINGS = ['', 'storage', 'cpu', '0', 'latin1', 'utf-8', 'min', 'mean',
           'get', 'items', '_metadata', 'version', '__setstate__',
           '__class__', 'state_dict', 'meta', 'f4', '<f8', 'O', 'b1',
           '_log_history', '_count_history', 'max_length',
           'statistics_methods', 'x' * 300]


def _u4(n):
    return struct.pack('<I', n & 0xFFFFFFFF)


class Program:
    """A random pickle, built opcode by opcode."""

    def __init__(self, rng, records):
        self.rng = rng
        self.records = records  # storage keys of the zip
        self.memo = 0
        self.out = []

    def emit(self, *chunks):
        self.out.extend(chunks)

    def put(self):
        r = self.rng.random()
        if r < 0.6:
            self.emit(P.BINPUT + bytes([self.memo % 256])) \
                if self.memo < 256 else self.emit(P.LONG_BINPUT +
                                                  _u4(self.memo))
        elif r < 0.8:
            self.emit(P.LONG_BINPUT + _u4(self.memo))
        else:
            self.emit(P.MEMOIZE)
        self.memo += 1

    def get(self):
        idx = self.rng.randrange(max(1, self.memo + 2))
        if self.rng.random() < 0.7 and idx < 256:
            self.emit(P.BINGET + bytes([idx]))
        else:
            self.emit(P.LONG_BINGET + _u4(idx))

    def string(self, text=None):
        rng = self.rng
        text = rng.choice(STRINGS) if text is None else text
        data = text.encode()
        r = rng.random()
        if r < 0.7:
            self.emit(P.BINUNICODE + _u4(len(data)) + data)
        elif r < 0.8:
            self.emit(P.SHORT_BINUNICODE + bytes([len(data) % 256]) +
                      data[:255])
        elif r < 0.85:  # a length the data does not have
            self.emit(P.BINUNICODE + _u4(rng.randrange(1 << 32)) + data)
        elif r < 0.9:
            self.emit(P.UNICODE + data.replace(b'\n', b'') + b'\n')
        else:
            self.emit(P.BINUNICODE8 + struct.pack('<Q', len(data)) + data)

    def scalar(self):
        rng = self.rng
        r = rng.randrange(14)
        if r == 0:
            self.emit(P.NONE)
        elif r == 1:
            self.emit(rng.choice([P.NEWTRUE, P.NEWFALSE]))
        elif r == 2:
            self.emit(P.BININT + struct.pack('<i', rng.randrange(-2**31,
                                                                 2**31)))
        elif r == 3:
            self.emit(P.BININT1 + bytes([rng.randrange(256)]))
        elif r == 4:
            self.emit(P.BININT2 + struct.pack('<H', rng.randrange(65536)))
        elif r == 5:
            n = rng.choice([0, 1, 8, 9, 255])
            self.emit(P.LONG1 + bytes([n]) + rng.randbytes(n))
        elif r == 6:
            self.emit(P.BINFLOAT + struct.pack('>d', rng.choice(
                [0.5, float('nan'), float('inf'), -1e308, 1e-300])))
        elif r == 7:
            self.string()
        elif r == 8:
            n = rng.choice([0, 4, 8, 64])
            self.emit(rng.choice([P.SHORT_BINBYTES + bytes([n]),
                                  P.BINBYTES + _u4(n)]) + rng.randbytes(n))
        elif r == 9:
            self.emit(P.INT + str(rng.randrange(-9, 10**6)).encode() +
                      b'\n')
        elif r == 10:
            self.emit(P.LONG4 + struct.pack('<i', 16) + rng.randbytes(16))
        elif r == 11:
            self.emit(P.BYTEARRAY8 + struct.pack('<Q', 4) + b'abcd')
        elif r == 12:
            self.emit(P.FLOAT + b'1e999\n')
        else:
            self.get()

    def value(self, depth=0):
        rng = self.rng
        if depth > 6 or rng.random() < 0.35:
            self.scalar()
        else:
            rng.choice([self.a_list, self.a_dict, self.a_tuple,
                        self.a_call, self.a_build, self.a_storage,
                        self.a_set, self.a_bomb, self.a_deep,
                        self.a_misc])(depth + 1)
        if rng.random() < 0.4:
            self.put()

    def items(self, depth, n=None):
        for _ in range(self.rng.randrange(4) if n is None else n):
            self.value(depth)

    def a_list(self, depth):
        self.emit(P.EMPTY_LIST)
        self.put()
        if self.rng.random() < 0.5:
            self.emit(P.MARK)
            self.items(depth)
            self.emit(P.APPENDS)
        else:
            self.value(depth)
            self.emit(P.APPEND)

    def a_dict(self, depth):
        self.emit(P.EMPTY_DICT)
        self.put()
        if self.rng.random() < 0.5:
            self.emit(P.MARK)
            for _ in range(self.rng.randrange(3)):
                self.string() if self.rng.random() < 0.8 else \
                    self.value(depth)
                self.value(depth)
            self.emit(P.SETITEMS)
        else:
            self.string()
            self.value(depth)
            self.emit(P.SETITEM)

    def a_tuple(self, depth):
        n = self.rng.randrange(5)
        if n == 4:
            self.emit(P.MARK)
            self.items(depth)
            self.emit(P.TUPLE)
        else:
            self.items(depth, n)
            self.emit([P.EMPTY_TUPLE, P.TUPLE1, P.TUPLE2, P.TUPLE3][n])

    def a_global(self):
        mod, name = self.rng.choice(GLOBALS)
        if self.rng.random() < 0.8:
            self.emit(P.GLOBAL + f'{mod}\n{name}\n'.encode())
        else:
            self.string(mod)
            self.string(name)
            self.emit(P.STACK_GLOBAL)

    def a_call(self, depth):
        self.a_global()
        r = self.rng.random()
        if r < 0.75:
            self.a_tuple(depth)
            self.emit(P.REDUCE)
        elif r < 0.9:
            self.a_tuple(depth)
            self.emit(P.NEWOBJ)
        else:
            self.a_tuple(depth)
            self.a_dict(depth)
            self.emit(P.NEWOBJ_EX)

    def a_build(self, depth):
        rng = self.rng
        if rng.random() < 0.5:  # an OrderedDict that takes state
            self.emit(P.GLOBAL + b'collections\nOrderedDict\n',
                      P.EMPTY_TUPLE, P.REDUCE)
        else:
            self.value(depth)
        self.emit(P.EMPTY_DICT, P.MARK)
        for _ in range(rng.randrange(1, 3)):
            self.string(rng.choice(['get', 'items', '_metadata', 'keys',
                                    '__class__', 'x']))
            self.value(depth)
        self.emit(P.SETITEMS, P.BUILD)

    def a_storage(self, depth):
        """('storage', type, key, 'cpu', numel) through BINPERSID, then
        perhaps a tensor rebuilt from it."""
        rng = self.rng
        self.emit(P.MARK)
        self.string('storage')
        self.emit(P.GLOBAL + rng.choice([b'torch\nFloatStorage\n',
                                         b'torch\nLongStorage\n',
                                         b'os\nsystem\n']))
        self.string(rng.choice(self.records + ['missing', '../x']))
        self.string('cpu')
        self.emit(P.BININT + struct.pack('<i', rng.choice(
            [0, 1, 2, 6, 1 << 30])))
        self.emit(P.TUPLE, P.BINPERSID)
        if rng.random() < 0.5:
            self.put()
            self.emit(P.GLOBAL + b'torch._utils\n_rebuild_tensor_v2\n',
                      P.MARK, P.LONG_BINGET + _u4(self.memo - 1),
                      P.BININT1 + bytes([rng.randrange(3)]))
            self.a_tuple(depth)
            self.a_tuple(depth)
            self.emit(rng.choice([P.NEWFALSE, P.NEWTRUE]),
                      P.GLOBAL + b'collections\nOrderedDict\n',
                      P.EMPTY_TUPLE, P.REDUCE, P.TUPLE, P.REDUCE)

    def a_set(self, depth):
        if self.rng.random() < 0.5:
            self.emit(P.EMPTY_SET, P.MARK)
            self.items(depth)
            self.emit(P.ADDITEMS)
        else:
            self.emit(P.MARK)
            self.items(depth)
            self.emit(P.FROZENSET)

    def a_bomb(self, depth):
        """Lists of memo references to the list before: tiny in the file,
        exponential as a tree (and as its repr)."""
        rng = self.rng
        self.string('abcd' * rng.randrange(1, 50))
        start = self.memo
        self.emit(P.LONG_BINPUT + _u4(start))
        self.memo += 1
        fan = rng.randrange(2, 40)
        for level in range(1, rng.randrange(2, 40)):
            body = P.LONG_BINGET + _u4(start + level - 1)
            self.emit(P.EMPTY_LIST, P.MARK, body * fan, P.APPENDS)
            if rng.random() < 0.3:  # or as a tuple, used as a dict key
                self.emit(P.MARK, body * fan, P.TUPLE, P.EMPTY_DICT,
                          P.MARK, body, P.NONE, P.SETITEMS, P.POP)
            self.emit(P.LONG_BINPUT + _u4(start + level))
            self.memo += 1

    def a_deep(self, depth):
        n = self.rng.choice([50, 99, 101, 150, 5000, 100000])
        kind = self.rng.randrange(3)
        if kind == 0:
            self.emit(P.EMPTY_LIST * n, P.APPEND * (n - 1))
        elif kind == 1:
            self.emit(P.NONE, P.TUPLE1 * n)
        else:
            self.emit(P.MARK * n, P.NONE)

    def a_misc(self, depth):
        rng = self.rng
        choice = rng.randrange(10)
        self.value(depth)
        self.emit([P.DUP, P.POP, P.POP_MARK, P.EXT1 + b'\x01',
                   P.EXT2 + b'\x01\x00', P.EXT4 + b'\x01\x00\x00\x00',
                   P.NEXT_BUFFER, P.READONLY_BUFFER,
                   P.FRAME + struct.pack('<Q', rng.randrange(1 << 20)),
                   P.PERSID + b'0\n', P.GET + b'0\n', P.PUT + b'0\n',
                   b'i' + b'os\nsystem\n', P.OBJ, P.LIST, P.DICT,
                   bytes([rng.randrange(256)])][choice + rng.randrange(7)])

    def program(self):
        proto = self.rng.choice([2] * 6 + [0, 3, 4, 5])
        if proto:
            self.emit(P.PROTO + bytes([proto]))
        self.value()
        if self.rng.random() < 0.3:
            self.value()
        self.emit(P.STOP)
        return b''.join(self.out)


def base_checkpoint():
    """A small checkpoint holding what MMEngine's runner saves."""
    from mmengine.logging import MessageHub
    from mmengine.optim import MultiStepLR
    from mmengine.runner.checkpoint import get_state_dict, weights_to_cpu
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1),
                              torch.nn.BatchNorm2d(3))
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2, 2, 2)).sum().backward()
    opt.step()
    hub = MessageHub.get_instance('fuzz')
    for i in range(3):
        hub.update_scalar('train/loss', 0.5 + i)
    sched = MultiStepLR(opt, milestones=[4, 6])
    return dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(7),
                  dataset_meta=dict(flip_indices=[1, 0],
                                    sigmas=np.ones(2, np.float32))),
        state_dict=weights_to_cpu(get_state_dict(net)),
        optimizer=opt.state_dict(), message_hub=hub.state_dict(),
        param_schedulers=[sched.state_dict()])


def opcode_chunks(data):
    """The pickle ``data`` cut at its opcodes."""
    import pickletools
    starts = [pos for _, _, pos in pickletools.genops(data)]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def mutate(rng, chunks, records):
    chunks = list(chunks)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(1, len(chunks) - 1)
        op = rng.randrange(6)
        if op == 0:
            del chunks[i]
        elif op == 1:
            chunks.insert(i, chunks[i] * rng.choice([2, 3, 100]))
        elif op == 2:
            j = rng.randrange(1, len(chunks) - 1)
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif op == 3:  # redirect a memo get
            gets = [k for k, c in enumerate(chunks)
                    if c[:1] in (P.BINGET, P.LONG_BINGET)]
            if gets:
                k = rng.choice(gets)
                chunks[k] = P.LONG_BINGET + _u4(rng.randrange(200))
        elif op == 4:  # insert a value from scratch
            prog = Program(rng, records)
            prog.memo = 50
            prog.value(depth=3)
            chunks.insert(i, b''.join(prog.out))
        else:  # a program from scratch, then BUILD onto what is there
            prog = Program(rng, records)
            prog.a_dict(3)
            chunks.insert(i, b''.join(prog.out) + P.BUILD)
    return b''.join(chunks)


def write_zip(rng, path, pkl, members):
    """``members``: the other records of the archive, name -> bytes."""
    layout = rng.choice(['torch'] * 6 + [
        'prefix', 'duplicate', 'compressed', 'outside', 'no_pkl',
        'appended', 'cut', 'tar_fifo', 'tar_then_zip'])
    names = dict(members, **{'archive/data.pkl': pkl})
    if layout == 'no_pkl':
        del names['archive/data.pkl']
    if layout == 'outside':
        names['other/data/0'] = b'\0' * 8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, body in names.items():
            z.writestr(name, body, zipfile.ZIP_DEFLATED if (
                layout == 'compressed' and rng.random() < 0.5)
                else zipfile.ZIP_STORED)
        if layout == 'duplicate':
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                z.writestr('archive/data.pkl', pickle.dumps({}, 2))
    data = buf.getvalue()
    if layout == 'prefix':
        data = rng.randbytes(rng.randrange(1, 600)) + data
    elif layout == 'appended':
        data += rng.randbytes(rng.randrange(1, 600))
    elif layout == 'cut':
        data = data[:rng.randrange(1, len(data))]
    elif layout.startswith('tar'):
        tbuf = io.BytesIO()
        with tarfile.open(fileobj=tbuf, mode='w') as tar:
            for name in ('storages', 'tensors', 'pickle'):
                info = tarfile.TarInfo(name)
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
        data = tbuf.getvalue() + (data if layout == 'tar_then_zip' else b'')
    with open(path, 'wb') as f:
        f.write(data)
    return layout


def use(obj, path):
    """What the tools do with a loaded checkpoint: take its weights and
    dataset_meta (a refusal is a UserError), and copy it, as MMEngine's
    runner does."""
    import copy
    copy.deepcopy(obj)
    pickle.dumps(obj)
    checked_meta(as_checkpoint(obj, path), 2, path)


@cli_main
def main(argv=None):
    args = fuzz_parser(__doc__.split('\n')[0]).parse_args(argv)
    check_fuzz_args(args)
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix='fuzz-ckpt-')
    base = osp.join(tmp, 'base.pth')
    torch.save(base_checkpoint(), base)
    with zipfile.ZipFile(base) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    pkl = next(v for k, v in members.items() if k.endswith('/data.pkl'))
    members = {k.replace(k.split('/')[0], 'archive', 1): v
               for k, v in members.items() if not k.endswith('/data.pkl')}
    records = [k.split('/data/')[1] for k in members if '/data/' in k]
    chunks = opcode_chunks(pkl)

    def load(path):
        use(load_file(path), path)

    assert run_case(lambda: load(base), 60)[0] == 'loads', \
        'the base checkpoint must load'
    path = osp.join(tmp, 'case.pth')

    def make_case(rng):
        kind = rng.choice(['scratch', 'mutated', 'real'])
        if kind == 'scratch':
            data = Program(rng, records).program()
        elif kind == 'mutated':
            data = mutate(rng, chunks, records)
        else:
            data = pkl
        return kind, write_zip(rng, path, data, members)

    return fuzz(args, rng, tmp, path, make_case, load)


if __name__ == '__main__':
    sys.exit(main())
