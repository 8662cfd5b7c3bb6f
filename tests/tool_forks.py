"""Run tools/*.py many times cheaply: import the stack once, fork per run.

    python tests/tool_forks.py --serve

reads one JSON request per line on stdin (``script``, or ``null`` for
``python -c args[0]``, ``args``, ``env``, ``timeout``) and answers each
with one JSON line on stdout: the exit code (negative: killed by that
signal, e.g. -11 for a segfault), stdout, stderr, the child's peak RSS in
KiB and its CPU seconds (``os.wait4``). conftest's ``run_tool`` uses it,
so a tool run costs its own work, not the seconds of importing torch,
MMEngine and MMPose.

A forked run is the tool's own ``__main__`` with the request's argv,
environment, ``sys.path[0]`` and torch thread count, as ``python
tools/<script>`` would have it; hih_plugin is not imported here, so each run
imports it as a fresh process would. Two things make a run cheaper than in a
fresh process without changing what it computes or writes: the server's
objects are frozen out of the garbage collector's walks (``gc.freeze``),
and a run formats each distinct config text once
(``share_repeated_work``).
"""
import gc
import json
import os
import os.path as osp
import runpy
import signal
import sys
import tempfile
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def import_stack():
    """The heavy imports, made once and shared by every fork."""
    import mmpose.apis  # noqa: F401
    import mmpose.datasets  # noqa: F401
    import mmpose.engine  # noqa: F401
    import mmpose.evaluation  # noqa: F401
    import mmpose.visualization  # noqa: F401
    from mmengine.runner import Runner  # noqa: F401


def share_repeated_work():
    """Make a run compute once what it asks for many times with the same
    answer. MMEngine formats a config's text with yapf each time it logs
    it, dumps it or puts it in a checkpoint: about seven times per
    training run, 0.2 to 1 CPU second each. A forked run formats each
    distinct text once; what it writes is the same."""
    import mmengine.config.config as config_module
    format_code = config_module.FormatCode
    cache = {}

    def formatted(text, style_config=None, **kwargs):
        key = (text, repr(style_config), repr(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = format_code(text, style_config=style_config,
                                     **kwargs)
        return cache[key]

    config_module.FormatCode = formatted


def _use_env(env):
    """The request's environment, as the child process would start with."""
    old = os.environ.get('PYTHONPATH', '')
    os.environ.clear()
    os.environ.update(env)
    new = env.get('PYTHONPATH', '')
    if new != old:
        for path in reversed([p for p in new.split(os.pathsep) if p]):
            if path not in sys.path:
                sys.path.insert(1, path)
    # torch read OMP_NUM_THREADS when this server started
    if env.get('OMP_NUM_THREADS', '').isdigit():
        import torch
        torch.set_num_threads(int(env['OMP_NUM_THREADS']))


def _child(path, args, out_path, err_path, env):
    """Run the script ``path`` (or, with ``path=None``, the code
    ``args[0]`` as ``python -c`` would) and exit with its status."""
    code = 1
    try:
        os.setpgid(0, 0)  # a timeout kills the run and its children
        with open(out_path, 'w') as out, open(err_path, 'w') as err, \
                open(os.devnull) as null:
            os.dup2(null.fileno(), 0)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        # as `python -c` and `python path` set it, before PYTHONPATH
        sys.path[0] = '' if path is None else osp.dirname(path)
        if env is not None:
            _use_env(env)
        os.chdir(ROOT)
        if path is None:
            sys.argv = ['-c', *args[1:]]
            exec(compile(args[0], '<string>', 'exec'),
                 {'__name__': '__main__'})
        else:
            sys.argv = [path, *args]
            runpy.run_path(path, run_name='__main__')
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit('message') prints it and exits 1
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: B036  report anything, then exit
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: B902  a closed stream has nothing
                pass
        os._exit(code)


def run_one(script, args, tmp, env=None, timeout=None, on_fork=None):
    """Fork, run ``tools/<script>`` (or an absolute path; ``None``: the code
    ``args[0]``) with ``args``, wait; a run past ``timeout`` seconds is
    killed with its children."""
    path = script and (script if osp.isabs(script) else
                       osp.join(ROOT, 'tools', script))
    out_path, err_path = osp.join(tmp, 'out'), osp.join(tmp, 'err')
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(path, [str(a) for a in args], out_path, err_path, env)
    if on_fork:
        on_fork(pid)
    return wait_for(pid, timeout, out_path, err_path)


def wait_for(pid, timeout, out_path, err_path):
    """Wait for the child ``pid`` that writes to ``out_path`` and
    ``err_path``, and kill its process group past ``timeout`` seconds;
    returns its exit status, output, peak memory and CPU seconds."""
    deadline = timeout and time.monotonic() + timeout
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, 0 if not deadline
                                       else os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.02)
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    return dict(returncode=os.waitstatus_to_exitcode(status), stdout=stdout,
                stderr=stderr, maxrss_kb=usage.ru_maxrss,
                cpu_s=usage.ru_utime + usage.ru_stime, timed_out=timed_out)


def serve():
    # A forked run's garbage collections (MMEngine calls gc.collect() for
    # each dataset it builds) need not walk the server's imported objects
    # again: a quarter of a CPU second each.
    gc.freeze()
    print('ready', flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        with tempfile.TemporaryDirectory() as tmp:
            # the child's pid first: a client that gives up kills its group
            res = run_one(req['script'], req['args'], tmp, req.get('env'),
                          req.get('timeout'), on_fork=lambda pid: print(
                              json.dumps(dict(pid=pid)), flush=True))
        sys.stdout.write(json.dumps(res) + '\n')
        sys.stdout.flush()


def main():
    if sys.argv[1:] != ['--serve']:
        sys.exit('usage: python tests/tool_forks.py --serve')
    import_stack()
    share_repeated_work()
    serve()


if __name__ == '__main__':
    main()
