import gc
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile

import pytest

# No version check over the network when mmpose imports albumentations.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The real-data fixtures beside the checkout; HIH_FIXTURES points
# elsewhere, e.g. at a missing folder to run the suite on generated data
# as a plain clone does.
FIXTURES = os.environ.get('HIH_FIXTURES') or osp.join(
    osp.dirname(ROOT), 'shared', 'fixtures', 'mmpose_tests_data')
# Real face photographs with 300-W annotations (the LFPW training set), where
# the real samples are; tests that need them skip without them.
LFPW_PHOTOS = osp.join(osp.dirname(FIXTURES), 'lfpw_68', 'trainset')
# End-to-end tests live here and get the ``e2e`` marker.
E2E_DIR = osp.join(ROOT, 'tests', 'test_tools')

_generated = {}  # dataset name -> folder of generated data


@pytest.hookimpl(tryfirst=True)  # before `-m` reads the marks
def pytest_collection_modifyitems(config, items):
    """Mark the end-to-end tests and run the modules that hold one first.

    `make test` hands out whole modules in collection order (`--dist
    loadfile --no-loadscope-reorder`): a module's shared set-up (a trained
    model, a distributed run) is made once, the long modules start first,
    and the many short ones fill the end on both workers.
    """
    for item in items:
        if str(item.path).startswith(E2E_DIR + os.sep):
            item.add_marker(pytest.mark.e2e)
    e2e = {item.path for item in items if item.get_closest_marker('e2e')}
    items.sort(key=lambda item: item.path not in e2e)  # stable


def pytest_collection_finish(session):
    """The test modules have imported torch, MMEngine and MMPose: keep the
    garbage collector from walking those objects again at every full
    collection (MMEngine runs one per dataset it builds, a quarter of a
    CPU second in a process this size)."""
    gc.freeze()


def fixture_dir(name: str) -> str:
    """Folder of a small dataset sample in the layout of
    ``mmpose_tests_data/<name>`` (``FIXTURES``): the real sample where
    it is present, else data generated once per test process in the
    dataset's own format (tests/fixture_data.py). No test needs a real
    sample's own quirks today; one that does should skip where it is
    absent."""
    path = osp.join(FIXTURES, name)
    if osp.isdir(path):
        return path
    if name not in _generated:
        import fixture_data
        root = tempfile.mkdtemp(prefix=f'hih-fixture-{name}-')
        fixture_data.write(name, root)
        _generated[name] = root
    return _generated[name]


@pytest.fixture(scope='session', autouse=True)
def _tool_server(request):
    """Start the tool server before the first end-to-end test, so that its
    imports count in no test's time limit (setup.cfg: timeout_func_only)."""
    if any(item.get_closest_marker('e2e') for item in request.session.items):
        ToolServer.start()


def pytest_sessionfinish(session):
    import shutil
    for root in _generated.values():
        shutil.rmtree(root, ignore_errors=True)
    ToolServer.stop()


class ToolServer:
    """One tests/tool_forks.py --serve per test process: it has imported
    torch, MMEngine and MMPose once and forks a child per tool run."""

    proc = None

    @classmethod
    def start(cls):
        """Start the server, if it is not running, and wait until it has
        imported the stack."""
        if cls.proc is None or cls.proc.poll() is not None:
            cls.proc = subprocess.Popen(
                [sys.executable, osp.join(ROOT, 'tests', 'tool_forks.py'),
                 '--serve'], cwd=ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, start_new_session=True)
            if cls.proc.stdout.readline().strip() != 'ready':
                raise RuntimeError('tests/tool_forks.py --serve exited '
                                   f'{cls.stop()} before it was ready')

    @classmethod
    def run(cls, script, args, env, timeout):
        cls.start()
        request = dict(script=script, args=args, env=env, timeout=timeout)
        cls.proc.stdin.write(json.dumps(request) + '\n')
        cls.proc.stdin.flush()
        pid = json.loads(cls.proc.stdout.readline() or '{}').get('pid')
        try:
            line = cls.proc.stdout.readline()
        except BaseException:
            # e.g. pytest-timeout: end the run, keep the server
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:  # ended already, or not yet its own group
                os.kill(pid, signal.SIGKILL)
            cls.proc.stdout.readline()
            raise
        if not line:
            code = cls.stop()
            raise RuntimeError(f'tests/tool_forks.py --serve exited {code}')
        return json.loads(line)

    @classmethod
    def stop(cls):
        proc, cls.proc = cls.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def run_fresh(cmd, env, timeout):
    """Run ``cmd`` in a fresh process (and process group); returns what
    the tool server returns: exit status, output, peak memory, CPU
    seconds."""
    from tool_forks import wait_for
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = osp.join(tmp, 'out'), osp.join(tmp, 'err')
        with open(out_path, 'w') as out, open(err_path, 'w') as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
        try:
            res = wait_for(proc.pid, timeout, out_path, err_path)
        except BaseException:  # e.g. pytest-timeout: end the run too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:  # ended already
                pass
            proc.wait()
            raise
    proc.returncode = res['returncode']  # waited for by wait_for
    return res


def run_tool(script, *args, timeout=600, env=None, check=True, fresh=False):
    """Run ``tools/<script>`` (or a script at an absolute path) as ``python
    tools/<script> ARGS`` would, in a child of the tool server, or with
    ``fresh`` (or HIH_TEST_SUBPROCESS=1) in a fresh interpreter;
    ``script=None`` runs ``python -c ARGS``.

    Returns a CompletedProcess plus the run's peak memory in KiB
    (``maxrss_kb``) and CPU seconds (``cpu_s``); with ``check`` a non-zero
    exit fails the test and shows the tool's output tail.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    args = [str(a) for a in args]
    cmd = [sys.executable, '-c' if script is None else
           osp.join(ROOT, 'tools', script), *args]
    if fresh or os.environ.get('HIH_TEST_SUBPROCESS') == '1':
        res = run_fresh(cmd, full_env, timeout)
    else:
        res = ToolServer.run(script, args, full_env, timeout)
    if res['timed_out']:
        raise subprocess.TimeoutExpired(cmd, timeout, res['stdout'],
                                        res['stderr'])
    proc = subprocess.CompletedProcess(cmd, res['returncode'], res['stdout'],
                                       res['stderr'])
    proc.maxrss_kb, proc.cpu_s = res['maxrss_kb'], res['cpu_s']
    if check and proc.returncode != 0:
        pytest.fail(f'{script or "python -c"} exited {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def assert_one_error(proc, *fragments):
    """A tool's refusal: exit status 2, exactly one ``error:`` line holding
    each of ``fragments``, and no traceback; returns that line."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
