"""The package's layers: the library never imports the tools' code or the
synthetic data, no module imports itself through a cycle, and importing the
library leaves MMEngine's checkpoint loader and the environment as they
were."""
import ast
import os
import os.path as osp
import subprocess
import sys
from collections import defaultdict

from conftest import ROOT

PACKAGE = osp.join(ROOT, 'hih_plugin')
# What configs use: none of these may import a package of OUTSIDE.
LIBRARY = ('codecs', 'models', 'evaluation', 'engine', 'datasets', 'deploy')
# What tools and tests use: the tools' code and the synthetic data.
OUTSIDE = ('hih_plugin.cli', 'hih_plugin.testing')

# One fresh interpreter: import every library module, check, then turn the
# restricted loader on the two ways a run can, checking each.
PROBE = r'''
import os, pkgutil, sys, importlib
import albumentations  # its import-time update check is not ours to test
del os.environ['NO_ALBUMENTATIONS_UPDATE']
env = dict(os.environ)
from mmengine.runner import checkpoint as ckpt
stock = ckpt.CheckpointLoader._schemes['']
import hih_plugin
names = []
for sub in sys.argv[1].split(','):
    pkg = importlib.import_module(f'hih_plugin.{sub}')
    names.append(pkg.__name__)
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
        importlib.import_module(info.name)
        names.append(info.name)
outside = tuple(sys.argv[4].split(','))
tools = sorted(m for m in sys.modules if m.startswith(outside))
assert not tools, f'the library imported {tools}'
assert dict(os.environ) == env, 'importing hih_plugin changed os.environ'
assert ckpt.CheckpointLoader._schemes[''] is stock, 'loader swapped on import'

from mmengine.config import Config
Config.fromfile(sys.argv[2])  # a config without the enable import
assert ckpt.CheckpointLoader._schemes[''] is stock
from hih_plugin.checkpoint import load_from_local
Config.fromfile(sys.argv[3])  # our config: custom_imports turns it on
assert ckpt.CheckpointLoader._schemes[''] is load_from_local
print(len(names))
'''


def test_library_imports_no_tool_code_and_changes_nothing():
    """In a fresh interpreter: every module of the library imports without
    importing hih_plugin.cli or hih_plugin.testing; after ``import
    hih_plugin`` MMEngine's local checkpoint loader is its own and
    os.environ is unchanged; loading a config without
    ``hih_plugin.checkpoint.enable`` keeps MMEngine's loader, loading one
    of ours makes it the restricted one."""
    env = dict(os.environ, PYTHONPATH=ROOT, NO_ALBUMENTATIONS_UPDATE='1')
    proc = subprocess.run(
        [sys.executable, '-c', PROBE, ','.join(LIBRARY),
         osp.join(ROOT, 'tests', 'configs', 'tiny_hrnetv2_wflw.py'),
         osp.join(ROOT, 'configs', 'hih_wflw.py'), ','.join(OUTSIDE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > len(LIBRARY)  # submodules seen


def _imports():
    """{module: the hih_plugin modules it imports}, from the source; also
    the imports inside functions, which a run may reach later."""
    graph = defaultdict(set)
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            rel = osp.relpath(path, ROOT)[:-3].replace(os.sep, '.')
            module = rel[:-len('.__init__')] if name == '__init__.py' \
                else rel
            package = module if name == '__init__.py' else \
                module.rpartition('.')[0]
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ''
                    if node.level:
                        parts = package.split('.')
                        parts = parts[:len(parts) - node.level + 1]
                        base = '.'.join(parts + ([base] if base else []))
                    targets = [base] + [f'{base}.{a.name}'
                                        for a in node.names]
                else:
                    continue
                graph[module].update(t for t in targets
                                     if t.startswith('hih_plugin'))
    return graph


def test_library_source_never_names_tool_code():
    for module, targets in _imports().items():
        if module.split('.')[1:2] in [[name] for name in LIBRARY]:
            bad = [t for t in targets if t.startswith(OUTSIDE)]
            assert not bad, f'{module} imports {bad}'


def test_no_import_cycles_between_modules():
    """No module reaches itself through the imports of other modules
    (a package importing its own submodules is no cycle)."""
    graph = _imports()
    modules = set(graph)
    edges = {m: {t for t in graph[m] if t in modules and t != m
                 and not t.startswith(m + '.')
                 and not m.startswith(t + '.')}
             for m in modules}
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 'open':
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError('import cycle: ' + ' -> '.join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 'done'

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
