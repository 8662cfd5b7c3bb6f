import os
import os.path as osp
import subprocess
import sys

import pytest

# No version check over the network when mmpose imports albumentations.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FIXTURES = osp.join(osp.dirname(ROOT), 'shared', 'fixtures',
                    'mmpose_tests_data')


def fixture_dir(name: str) -> str:
    """Path of a dataset fixture folder; skips the test where it is absent."""
    path = osp.join(FIXTURES, name)
    if not osp.isdir(path):
        pytest.skip(f'dataset fixture not found at {path} '
                    '(../shared/fixtures is not checked out next to the repo)')
    return path


def run_tool(script, *args, timeout=600, env=None, check=True):
    """Run ``tools/<script>`` with this interpreter in a subprocess.

    Returns the CompletedProcess; with ``check`` a non-zero exit fails the
    test and shows the tool's output tail.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', script), *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=full_env)
    if check and proc.returncode != 0:
        pytest.fail(f'tools/{script} exited {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
