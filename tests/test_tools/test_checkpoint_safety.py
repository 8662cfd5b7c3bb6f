"""Checkpoint loading: crafted files are refused by every tool, in one line,
without running code, crashing or eating memory; the checkpoints stock
MMEngine / MMPose write (without hih_plugin) test, resume and load_from."""
import copyreg
import json
import os
import os.path as osp
import pickle
import zipfile
from collections import Counter, OrderedDict

import mmpose
import numpy as np
import pytest
import torch
from conftest import fixture_dir, run_tool
from mmengine.logging import HistoryBuffer
from tool_options import (STOCK_CFG, annotated_image, read_scalars, run_each,
                          wflw_options)

from hih_plugin.checkpoint import CheckpointError, load_file

# Runs stock MMPose training in a process that never imports hih_plugin,
# then reads the checkpoint it wrote with plain pickle (a file this very
# process just wrote, as a reference) and dumps its message hub.
STOCK_TRAIN = '''
import json, runpy, sys
import torch
train, hub_json, *args = sys.argv[1:]
sys.argv = [train, *args]
runpy.run_path(train, run_name='__main__')
assert 'hih_plugin' not in sys.modules
work_dir = args[args.index('--work-dir') + 1]
ckpt = torch.load(work_dir + '/epoch_1.pth', weights_only=False)
hub = {k: [v._log_history.tolist(), v._count_history.tolist()]
       for k, v in ckpt['message_hub']['log_scalars'].items()}
json.dump(hub, open(hub_json, 'w'))
'''


@pytest.fixture(scope='module')
def stock(tmp_path_factory):
    """One epoch of MMPose's stock tools/train.py, without hih_plugin."""
    root = fixture_dir('wflw')
    work_dir = tmp_path_factory.mktemp('stock')
    train = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools',
                     'train.py')
    run_tool(None, STOCK_TRAIN, train, work_dir / 'hub.json', STOCK_CFG,
             '--work-dir', work_dir, '--cfg-options',
             *wflw_options(root, max_epochs=1))
    ckpt = work_dir / 'epoch_1.pth'
    return dict(root=root, ckpt=ckpt, work_dir=work_dir,
                hub=json.loads((work_dir / 'hub.json').read_text()))


def test_stock_checkpoint_holds_numpy_and_history_buffers(stock):
    ckpt = load_file(str(stock['ckpt']))
    meta = ckpt['meta']['dataset_meta']
    assert any(isinstance(v, np.ndarray) for v in meta.values())
    buffers = ckpt['message_hub']['log_scalars']
    assert buffers and all(isinstance(b, HistoryBuffer)
                           for b in buffers.values())
    for key, (log, count) in stock['hub'].items():
        assert buffers[key]._log_history.tolist() == log
        assert buffers[key]._count_history.tolist() == count


# The good checkpoint's runs of test.py and train.py --resume are those of
# the tool matrix below (tool_runs).
def test_stock_checkpoint_tests(tool_runs):
    runs, _, _ = tool_runs
    res = runs[('test.py', 'good')]
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((res.work_dir / TEST_OUT).read_text())['NME'] > 0


def test_stock_checkpoint_resumes(stock, tool_runs):
    saved = [r['step'] for r in read_scalars(stock['work_dir'])
             if 'loss' in r]
    runs, _, _ = tool_runs
    proc = runs[('train.py', 'good')]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'resumed epoch: 1, iter: {saved[-1]}' in proc.stdout
    resumed = [r['step'] for r in read_scalars(proc.work_dir)
               if 'loss' in r]
    assert resumed == [saved[-1] + i + 1 for i in range(len(saved))]


def test_stock_checkpoint_as_load_from(stock, tmp_path):
    proc = run_tool('train.py', STOCK_CFG, '--work-dir', tmp_path,
                    '--cfg-options', f'load_from={stock["ckpt"]}',
                    *wflw_options(stock['root'], max_epochs=1))
    assert 'Load checkpoint from' in proc.stdout
    assert osp.isfile(tmp_path / 'epoch_1.pth')


RESUMED_HUB = '''
import importlib.util, json, sys
from mmengine.runner import Runner
from hih_plugin.checkpoint import enable_safe_loader
enable_safe_loader()  # as train.py's main does
spec = importlib.util.spec_from_file_location('train', 'tools/train.py')
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
out, *argv = sys.argv[1:]
args = train.build_parser().parse_args(argv)
runner = Runner.from_cfg(train.merge_args(train.load_config(args.config),
                                          args))
runner.load_or_resume()
hub = {k: [v._log_history.tolist(), v._count_history.tolist()]
       for k, v in runner.message_hub.log_scalars.items()}
json.dump(dict(hub=hub, iter=runner.iter), open(out, 'w'))
'''


def test_resumed_message_hub_equals_saved(stock, tmp_path):
    out = tmp_path / 'hub.json'
    run_tool(None, RESUMED_HUB, out, STOCK_CFG, '--work-dir', tmp_path,
             '--resume', stock['ckpt'], '--cfg-options',
             *wflw_options(stock['root'], max_epochs=2))
    resumed = json.loads(out.read_text())
    assert resumed['hub'] == stock['hub']
    assert resumed['iter'] > 0


# ------------------------------------------------------------ payloads
class _Reduce:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _ClassStateBuffer:
    """A HistoryBuffer whose state rewrites the class's statistics."""

    __class__ = property(lambda self: HistoryBuffer)  # for NEWOBJ

    def __reduce__(self):
        return copyreg.__newobj__, (HistoryBuffer, ), {
            'max_length': 10,
            '_log_history': np.array([1.0]),
            '_count_history': np.array([1]),
            'statistics_methods': {'mean': bytes},
        }


def _os_system_build(marker):
    """pickle bytes: an OrderedDict whose __setstate__ BUILD makes
    os.system, then a second BUILD that calls it."""
    return (b'\x80\x02ccollections\nOrderedDict\n)R'
            b'N}X\x0c\x00\x00\x00__setstate__cos\nsystem\ns\x86b'
            + b'X' + len(f'touch {marker}').to_bytes(4, 'little')
            + f'touch {marker}'.encode() + b'b.')


def rewrite_pickle(src, dst, data):
    """Copy the zip ``src`` to ``dst`` with ``data`` as its data.pkl."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith('/data.pkl'):
                body = data
            zout.writestr(info.filename, body)


def write_payloads(base_path, out_dir, marker):
    """{name: (path, fragment the error line must name)}"""
    base = load_file(str(base_path))
    in_meta = {
        'object_array': (_Reduce(np.ndarray, (2, ), 'O', b'A' * 16),
                         'numpy.ndarray'),
        'negative_offset': (_Reduce(np.ndarray, (4, ), 'f8', b'A' * 8,
                                    -(1 << 40)), 'numpy.ndarray'),
        'object_array_2e8': (_Reduce(np.ndarray, (200_000_000, ), 'O'),
                             'numpy.ndarray'),
        'os_system_reduce': (_Reduce(os.system, f'touch {marker}'),
                             'system'),
    }
    payloads = {}
    for name, (obj, fragment) in in_meta.items():
        ckpt = dict(base, meta=dict(base['meta'], note=obj))
        torch.save(ckpt, out_dir / f'{name}.pth')
        payloads[name] = (out_dir / f'{name}.pth', fragment)
    hub = dict(base['message_hub'])
    hub['log_scalars'] = dict(hub['log_scalars'],
                              **{'train/loss': _ClassStateBuffer()})
    torch.save(dict(base, message_hub=hub), out_dir / 'class_state.pth')
    payloads['class_state'] = (out_dir / 'class_state.pth',
                               'statistics_methods')
    rewrite_pickle(base_path, out_dir / 'os_system_build.pth',
                   _os_system_build(marker))
    payloads['os_system_build'] = (out_dir / 'os_system_build.pth',
                                   'system')
    torch.save(base, out_dir / 'protocol4.pth', pickle_protocol=4)
    payloads['protocol4'] = (out_dir / 'protocol4.pth', 'protocol 4')
    return payloads


def test_os_system_payloads_are_live(tmp_path):
    """The os.system payloads do run under a permissive unpickler."""
    marker = tmp_path / 'ran'
    pickle.loads(_os_system_build(marker))
    assert marker.exists()


TOOLS = ('test.py', 'demo.py', 'publish_model.py', 'train.py')
TEST_OUT = 'test_metrics.json'  # test.py --out, in the run's folder


def tool_args(tool, ckpt, root, tmp):
    opts = wflw_options(root, max_epochs=2)
    if tool == 'test.py':
        return [STOCK_CFG, ckpt, '--work-dir', tmp, '--out',
                osp.join(tmp, TEST_OUT), '--cfg-options', *opts]
    if tool == 'demo.py':
        img = annotated_image(root, 'test_wflw.json')[0]
        # the whole image: generated faces are drawn, no face detector's
        return [img, STOCK_CFG, ckpt, '--out-file', osp.join(tmp, 'vis.png'),
                '--device', 'cpu', '--face-detector', 'none']
    if tool == 'publish_model.py':
        return [STOCK_CFG, ckpt, osp.join(tmp, 'metrics.json'), '--out-dir',
                osp.join(tmp, 'zoo'), '--collection', 'HRNet']
    return [STOCK_CFG, '--work-dir', tmp, '--resume', ckpt, '--cfg-options',
            *opts]


@pytest.fixture(scope='module')
def tool_runs(stock, tmp_path_factory):
    """Every payload (and the good checkpoint) through every tool."""
    tmp = tmp_path_factory.mktemp('payloads')
    marker = tmp / 'pwned'
    payloads = write_payloads(stock['ckpt'], tmp, marker)
    payloads['good'] = (stock['ckpt'], None)
    (tmp / 'metrics.json').write_text('{"NME": 0.1}')
    work_dirs = {(tool, name): tmp / f'{tool}-{name}'
                 for tool in TOOLS for name in payloads}
    for work_dir in work_dirs.values():
        os.makedirs(work_dir)
        (work_dir / 'metrics.json').write_text('{"NME": 0.1}')
    results = run_each([
        (tool, tool_args(tool, payloads[name][0], stock['root'], work_dir))
        for (tool, name), work_dir in work_dirs.items()])
    for res, work_dir in zip(results, work_dirs.values()):
        res.work_dir = work_dir
    return dict(zip(work_dirs, results)), payloads, marker


@pytest.mark.parametrize('tool', TOOLS)
def test_good_checkpoint_passes_every_tool(tool_runs, tool):
    runs, _, _ = tool_runs
    res = runs[(tool, 'good')]
    assert res.returncode == 0, res.stderr[-3000:]


PAYLOADS = ('object_array', 'negative_offset', 'class_state',
            'object_array_2e8', 'os_system_reduce', 'os_system_build',
            'protocol4')


@pytest.mark.parametrize('tool', TOOLS)
@pytest.mark.parametrize('payload', PAYLOADS)
def test_payload_is_refused_in_one_line(tool_runs, tool, payload):
    runs, payloads, marker = tool_runs
    res = runs[(tool, payload)]
    assert res.returncode == 2, res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines()
              if ln.startswith('error:')]
    assert len(errors) == 1, res.stderr[-3000:]
    assert payloads[payload][1] in errors[0]
    assert 'weights_only' not in errors[0]
    assert 'Traceback' not in res.stderr
    assert not marker.exists()
    assert not (res.work_dir / TEST_OUT).exists()
    # refusing takes no more memory than using a good checkpoint
    good = runs[(tool, 'good')].maxrss_kb
    assert res.maxrss_kb < good * 1.1 + 50_000


# ------------------------------------------------- resume needs a run
@pytest.fixture(scope='module')
def resume_runs(stock, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('resume')
    ckpt = load_file(str(stock['ckpt']))
    files = {}
    files['bare'] = tmp / 'bare.pth'
    torch.save(ckpt['state_dict'], files['bare'])
    files['no_hub'] = tmp / 'no_hub.pth'
    torch.save({k: v for k, v in ckpt.items() if k != 'message_hub'},
               files['no_hub'])
    state = dict(ckpt['state_dict'])
    key = next(k for k in state if k.startswith('head.final_layer.weight'))
    state[key] = torch.zeros(3, *state[key].shape[1:])
    files['shape'] = tmp / 'shape.pth'
    torch.save(dict(ckpt, state_dict=state), files['shape'])
    return dict(zip(files, run_each(
        [('train.py', tool_args('train.py', path, stock['root'], tmp / name))
         for name, path in files.items()])))


@pytest.mark.parametrize('name, fragments', [
    ('bare', ['bare state dict', 'load_from=']),
    ('no_hub', ['no message_hub', 'load_from=']),
    ('shape', ['1 shape mismatch(es): head.final_layer.weight checkpoint '
               '(3,', 'does not fit the model']),
])
def test_resume_refuses_what_cannot_resume(resume_runs, name, fragments):
    res = resume_runs[name]
    assert res.returncode == 2, res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines()
              if ln.startswith('error:')]
    assert len(errors) == 1, res.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0]
    assert 'Traceback' not in res.stderr


# ------------------------------------------------------- in-process units
def _zip_with(tmp_path, data, name='x.pth'):
    base = tmp_path / 'base.pth'
    torch.save({}, base)
    path = tmp_path / name
    rewrite_pickle(base, path, data)
    return path


def _refusal(path):
    with pytest.raises(CheckpointError) as err:
        load_file(str(path))
    msg = str(err.value)
    assert '\n' not in msg and 'weights_only' not in msg
    return msg


def test_random_bytes_and_truncation_are_one_line(tmp_path, stock):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    assert 'not a zip archive' in _refusal(junk)
    cut = tmp_path / 'cut.pth'
    data = stock['ckpt'].read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    assert 'truncated' in _refusal(cut)


def test_numpy_arrays_and_scalars_round_trip(tmp_path):
    meta = dict(f=np.arange(6, dtype='>f4').reshape(2, 3),
                fortran=np.asfortranarray(np.arange(6.).reshape(2, 3)),
                empty=np.zeros((0, 3)), b=np.array([True, False]),
                s=np.float32(1.5), i=np.int64(-3))
    path = tmp_path / 'np.pth'
    torch.save(dict(meta=meta), path)
    loaded = load_file(str(path))['meta']
    for key, value in meta.items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)
    assert loaded['fortran'].flags.f_contiguous


def test_scheduler_and_optimizer_state_round_trip(tmp_path):
    from mmengine.optim import LinearLR, MultiStepLR
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    schedulers = [LinearLR(opt, start_factor=0.001, by_epoch=False, end=5),
                  MultiStepLR(opt, milestones=[40, 55], by_epoch=True)]
    ckpt = dict(optimizer=opt.state_dict(),
                param_schedulers=[s.state_dict() for s in schedulers])
    path = tmp_path / 'sched.pth'
    torch.save(ckpt, path)
    loaded = load_file(str(path))
    # MultiStepLR keeps its milestones in a collections.Counter
    assert loaded['param_schedulers'] == ckpt['param_schedulers']
    assert torch.equal(loaded['optimizer']['state'][0]['exp_avg'],
                       ckpt['optimizer']['state'][0]['exp_avg'])


def test_history_buffer_is_rebuilt_without_class_state(tmp_path):
    buffer = HistoryBuffer([1.0, 2.0], [1, 2], max_length=5)
    path = tmp_path / 'hub.pth'
    torch.save({'b': buffer}, path)
    before = dict(HistoryBuffer._statistics_methods)
    loaded = load_file(str(path))['b']
    assert type(loaded) is HistoryBuffer and loaded.max_length == 5
    assert loaded._log_history.tolist() == [1.0, 2.0]
    assert loaded.mean() == 1.0  # sum of logs over sum of counts
    assert HistoryBuffer._statistics_methods == before


@pytest.mark.parametrize('obj, fragment', [
    (_Reduce(getattr, HistoryBuffer, '__class__'), "getattr(HistoryBuffer"),
    (_Reduce(getattr, OrderedDict, 'min'), 'getattr('),
    (_Reduce(np.dtype, 'O8', False, True), "dtype 'O8'"),
    (_Reduce(OrderedDict, [('a', 1)]), 'OrderedDict called with'),
    (_Reduce(Counter, {'a': print}), 'global builtins.print'),
    (_Reduce(Counter, {'a': [1]}), 'Counter of anything but numbers'),
])
def test_vetted_calls_refuse_other_arguments(tmp_path, obj, fragment):
    path = tmp_path / 'bad.pth'
    torch.save({'x': obj}, path)
    assert fragment in _refusal(path)


def test_array_larger_than_its_bytes_is_refused(tmp_path):
    data = pickle.dumps(np.zeros(4), protocol=2)
    # shape (4,) -> (10**9,): the 32 data bytes no longer back it
    data = data.replace(b'K\x04\x85', b'J\x00\xca\x9a;\x85')
    assert 'needs 8000000000 bytes but has 32' in _refusal(
        _zip_with(tmp_path, data))


def test_memo_amplification_is_refused(tmp_path):
    big = 'a' * (1 << 20)
    # encode one memoised 1 MiB string 200 times: 200 MiB from 1 MiB
    call = b'h\x00h\x01h\x02\x86R'
    data = (b'\x80\x02c_codecs\nencode\nq\x00X' + len(big).to_bytes(4,
            'little') + big.encode() + b'q\x01X\x06\x00\x00\x00latin1q\x02'
            b']q\x03(' + call * 200 + b'e.')
    assert 'memory bomb' in _refusal(_zip_with(tmp_path, data))


def test_storage_larger_than_its_record_is_refused(tmp_path):
    path = tmp_path / 't.pth'
    torch.save({'t': torch.zeros(2)}, path)
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist()
                           if n.endswith('data.pkl')))
    # numel 2 -> 200 in the storage's persistent id
    data = data.replace(b"X\x03\x00\x00\x00cpuq\x06K\x02",
                        b"X\x03\x00\x00\x00cpuq\x06K\xc8")
    out = tmp_path / 'big.pth'
    rewrite_pickle(path, out, data)
    assert 'larger than its 8-byte record' in _refusal(out)


# --------------------------------------------------------- hypothesis
FUZZ = '''
import io, sys, zipfile
import numpy as np, torch
from hypothesis import given, settings, strategies as st, HealthCheck
from mmengine.logging import MessageHub
from hih_plugin.checkpoint import CheckpointError, load_file

tmp = sys.argv[1]
hub = MessageHub.get_instance('fuzz')
for i in range(3):
    hub.update_scalar('train/loss', 0.5 + i)
net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1), torch.nn.BatchNorm2d(3))
torch.save(dict(state_dict=net.state_dict(), message_hub=hub.state_dict(),
                meta=dict(epoch=1, iter=3, a=np.arange(3.), s=np.int64(2))),
           tmp + '/good.pth')
with zipfile.ZipFile(tmp + '/good.pth') as z:
    infos = [(i.filename, z.read(i)) for i in z.infolist()]
pkl = next(d for n, d in infos if n.endswith('/data.pkl'))
outcomes = {'loaded': 0, 'refused': 0}

@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(pkl) - 1),
                          st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(1, len(pkl)))
def check(edits, keep):
    data = bytearray(pkl[:keep] if keep < len(pkl) // 8 else pkl)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    path = tmp + '/mutant.pth'
    with zipfile.ZipFile(path, 'w') as z:
        for name, body in infos:
            z.writestr(name, bytes(data) if name.endswith('/data.pkl')
                       else body)
    try:
        load_file(path)
        outcomes['loaded'] += 1
    except CheckpointError as err:
        assert '\\n' not in str(err), str(err)
        outcomes['refused'] += 1

check()
print(outcomes['loaded'], outcomes['refused'])
'''


def test_mutated_pickles_load_or_are_refused(tmp_path):
    pytest.importorskip('hypothesis')
    proc = run_tool(None, FUZZ, tmp_path, timeout=300, check=False)
    # a crash of the interpreter would show as a negative return code
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded, refused = map(int, proc.stdout.split()[-2:])
    assert refused > 0 and loaded + refused >= 300


def test_torch_refusals_are_named_without_advice(tmp_path):
    from hih_plugin.checkpoint import torch_refusal
    path = tmp_path / 'np.pth'
    torch.save({'a': np.zeros(2)}, path)
    with pytest.raises(pickle.UnpicklingError) as err:
        torch.load(path, weights_only=True)
    cause = torch_refusal(err.value)
    assert 'multiarray._reconstruct' in cause
    assert 'weights_only' not in cause and '\n' not in cause


def test_refusal_quoting_multiline_content_stays_one_line():
    """A refusal may quote file content, e.g. the repr of a tensor that the
    fuzzer smuggled into a persistent id; the error stays one line."""
    from hih_plugin.checkpoint import CheckpointError
    err = CheckpointError(f'persistent id {torch.arange(3.)[:, None]!r}')
    assert '\n' not in str(err) and 'tensor([[0.], [1.], [2.]])' in str(err)
