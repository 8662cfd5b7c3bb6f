"""The project speaks of itself only: no run labels, tracker numbers,
paths outside the repository or commit hashes in file names, in the docs,
code, tests, configs and recorded results. A dated measurement with its
command says all a reader needs."""
import os
import os.path as osp
import re

from conftest import ROOT

FOLDERS = ('docs', 'tools', 'hih_plugin', 'tests', 'configs', '.ci')
FILES = ('README.md', 'Makefile', 'setup.cfg', 'setup.py')
TEXT = ('.py', '.md', '.sh', '.txt', '.cfg', '.json', '.yml', '.yaml')
SKIP_DIRS = {'__pycache__', '.venv', 'data', 'work_dirs'}
HERE = osp.abspath(__file__)

# The file names the patterns, so it is not scanned itself.
PATTERNS = {
    'a run label': re.compile(r'\bsession \d+', re.I),
    'a tracker number': re.compile(r'\bissue\s*#?\d+', re.I),
    'a path outside the repository': re.compile(r'\.\./shared\b'),
    'an absolute path of a machine': re.compile(
        r'(?:^|[\s"\'(=])/(?:work|home|Users|root|mnt)/\w', re.M),
}
# In prose, "helper" is talk of who did the work; code may name onnx.helper.
PROSE_ONLY = {'talk of helpers': re.compile(r'\bhelpers?\b', re.I)}
HASH = re.compile(r'(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])'
                  r'[0-9a-f]{7,40}(?![0-9a-z])')


def project_files():
    for name in FILES:
        yield osp.join(ROOT, name)
    for folder in FOLDERS:
        for root, dirs, names in os.walk(osp.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for name in names:
                path = osp.join(root, name)
                if name.endswith(TEXT) or folder == '.ci':
                    yield path


def test_no_process_language_in_the_project():
    found = []
    for path in project_files():
        if osp.abspath(path) == HERE or not osp.isfile(path):
            continue
        text = open(path, encoding='utf-8', errors='replace').read()
        patterns = dict(PATTERNS)
        if path.endswith('.md'):
            patterns.update(PROSE_ONLY)
        for what, pattern in patterns.items():
            for m in pattern.finditer(text):
                line = text.count('\n', 0, m.start()) + 1
                found.append(f'{osp.relpath(path, ROOT)}:{line}: {what} '
                             f'({m.group(0)!r})')
    assert not found, '\n'.join(found)


def test_no_commit_hash_in_a_file_name():
    named = [osp.relpath(path, ROOT) for path in project_files()
             if HASH.search(osp.basename(path))]
    assert not named, named
