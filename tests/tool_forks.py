"""Run tools/*.py many times cheaply: import the stack once, fork per run.

    python tests/tool_forks.py SPEC.json RESULTS.json

SPEC is a list of ``[script, [args...]]``; RESULTS gets, per run, the exit
code (negative: killed by that signal, e.g. -11 for a segfault), stderr,
stdout and the child's peak RSS in KiB (``os.wait4``).
"""
import json
import os
import os.path as osp
import runpy
import sys
import tempfile
import traceback

import mmpose.apis  # noqa: F401  the heavy imports, shared by every fork
import torch  # noqa: F401
from mmengine.runner import Runner  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_one(script, args, err_path):
    out_path = err_path + '.out'
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with open(err_path, 'w') as err, open(out_path, 'w') as out:
                os.dup2(err.fileno(), 2)
                os.dup2(out.fileno(), 1)
            os.chdir(ROOT)
            sys.argv = [script, *args]
            runpy.run_path(osp.join(ROOT, 'tools', script),
                           run_name='__main__')
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (
                0 if exc.code is None else 1)
        except BaseException:  # noqa: B036  report anything, then exit
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    with open(err_path) as f:
        stderr = f.read()
    with open(out_path) as f:
        stdout = f.read()
    return dict(returncode=os.waitstatus_to_exitcode(status), stderr=stderr,
                stdout=stdout, maxrss_kb=usage.ru_maxrss)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (script, args) in enumerate(spec):
            results.append(run_one(script, args, osp.join(tmp, f'{i}.err')))
    with open(sys.argv[2], 'w') as f:
        json.dump(results, f)


if __name__ == '__main__':
    main()
