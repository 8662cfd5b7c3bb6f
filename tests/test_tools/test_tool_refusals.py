"""What the tools refuse, through the tools themselves: special files where
a file is read, sizes and nesting, non-finite annotation values, numbers out
of range, malformed ``--cfg-options`` and outputs that cannot be written.

Each run (conftest.run_tool) must end with exit status 2, exactly one
``error:`` line and no traceback, within a time bound (a FIFO read by a
tool would block until the run is killed, and the test would fail) and a
memory bound (``/dev/zero`` read whole would fill the memory), and without
writing anything under the test's folder.
"""
import json
import os
import os.path as osp
import shutil

import pytest
from conftest import ROOT, assert_one_error, fixture_dir, run_tool
from ecosystem_utils import NO_DOWNLOAD, data_options

CONFIG = osp.join(ROOT, 'configs', 'hih_wflw.py')
# seconds: a refusal costs the config's load and the data check
BOUND = 60
# peak memory of a refusal, MiB
MEMORY_MIB = 1024


def files_under(folder):
    """Every path under ``folder`` with its size (a FIFO counts as 0)."""
    found = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = osp.join(dirpath, name)
            found[path] = os.lstat(path).st_size
    return found


@pytest.fixture
def case(tmp_path):
    """A writable copy of the WFLW fixture, a dummy checkpoint (refusals
    come before it is read) and a FIFO."""
    root = tmp_path / 'wflw'
    shutil.copytree(fixture_dir('wflw'), root)
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'not read')
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    return dict(tmp=tmp_path, root=root, ckpt=ckpt, fifo=fifo,
                ann=root / 'test_wflw.json')


def refuse(tmp, script, *args, fragments=()):
    """Run ``script`` and check the refusal; nothing under ``tmp`` may
    change."""
    before = files_under(tmp)
    proc = run_tool(script, *args, check=False, timeout=BOUND)
    line = assert_one_error(proc, *fragments)
    assert files_under(tmp) == before, line
    # no file was read whole: every refusal peaked at about 485 MiB, the
    # imports shared with the tool server (the value of proc.maxrss_kb)
    assert proc.maxrss_kb < MEMORY_MIB << 10, line
    return line


def tester(case, *extra, opts=()):
    return ('test.py', CONFIG, case['ckpt'], '--work-dir',
            case['tmp'] / 'work', *extra, '--cfg-options',
            *data_options(case['root'], 'wflw', ('test', )), *opts)


def edit_annotations(case, change):
    data = json.loads(case['ann'].read_text())
    change(data['annotations'][0])
    case['ann'].write_text(json.dumps(data))  # NaN and Infinity as JSON5


@pytest.mark.parametrize('field, value, fragment', [
    ('scale', float('nan'), '"scale" nan, not a positive finite number'),
    ('center', [float('inf'), 1.0], '"center" [inf, 1.0], not a list of 2'),
    ('bbox', [0, 0, 10], '"bbox" [0, 0, 10], not a list of 4'),
    ('num_keypoints', 'all', '"num_keypoints" \'all\', not a whole number'),
])
def test_test_tool_refuses_bad_annotation_values(case, field, value,
                                                 fragment):
    edit_annotations(case, lambda ann: ann.update({field: value}))
    out = case['tmp'] / 'metrics.json'
    refuse(case['tmp'], *tester(case, '--out', out),
           fragments=(str(case['ann']), fragment))
    assert not out.exists()


def test_test_tool_names_key_its_dataset_parser_needs(case):
    edit_annotations(case, lambda ann: ann.pop('iscrowd'))
    refuse(case['tmp'], *tester(case),
           fragments=(str(case['ann']), 'cannot be read by WFLWDataset '
                      "(KeyError: 'iscrowd')"))


def test_special_files_and_deep_json_are_refused_in_seconds(case):
    tmp, fifo = case['tmp'], case['fifo']
    # a FIFO as the checkpoint, as the annotation file, as the metrics file
    refuse(tmp, 'test.py', CONFIG, fifo,
           fragments=(f'checkpoint {fifo} is not a regular file', ))
    case['ann'].unlink()
    os.mkfifo(case['ann'])
    refuse(tmp, *tester(case),
           fragments=(f'test ann_file {case["ann"]} is not a regular file', ))
    refuse(tmp, 'publish_model.py', CONFIG, case['ckpt'], '/dev/zero',
           '--out-dir', tmp / 'zoo',
           fragments=('metrics file /dev/zero is not a regular file', ))
    # nested deeper than Python's JSON reader recurses
    os.unlink(case['ann'])
    case['ann'].write_text('[' * 100_000 + ']' * 100_000)
    refuse(tmp, *tester(case),
           fragments=(str(case['ann']), 'nests JSON arrays or objects'))


def test_work_dir_files_are_checked_before_the_run(case):
    tmp, work = case['tmp'], case['tmp'] / 'work'
    run = tmp / 'work' / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    os.mkfifo(run / 'scalars.json')
    refuse(tmp, 'analysis/loss_trend.py', work,
           fragments=('training log', 'is not a regular file'))
    os.symlink('/dev/zero', work / 'last_checkpoint')
    refuse(tmp, 'train.py', CONFIG, '--work-dir', work, '--resume',
           '--cfg-options', NO_DOWNLOAD,
           *data_options(case['root'], 'wflw', ('train', 'val')),
           fragments=("work dir's last_checkpoint", 'not a regular file'))


@pytest.mark.parametrize('script, args, fragment', [
    ('test.py', ('--interval', 'nan'),
     "argument --interval: 'nan' is not a whole number of at least 1"),
    ('test.py', ('--wait-time', '-1'), "argument --wait-time: '-1' is not"),
    ('test.py', ('--cfg-options', 'test_dataloader.batch_size'),
     "'test_dataloader.batch_size' is not KEY=VALUE"),
    ('analysis/face_eval.py', ('--thr', 'inf'), "argument --thr: 'inf'"),
    ('publish_model.py', ('--digits', '99'), "argument --digits: '99'"),
])
def test_numbers_out_of_range_are_one_line(case, script, args, fragment):
    refuse(case['tmp'], script, CONFIG, case['ckpt'], *args,
           *(['m.json', '--out-dir', case['tmp']]
             if script == 'publish_model.py' else []),
           fragments=(fragment, ))


def test_counts_of_other_tools_are_one_line(case):
    tmp = case['tmp']
    refuse(tmp, 'make_demo_data.py', '--out-dir', tmp / 'demo',
           '--image-size', '0', fragments=("'0' is not a whole number", ))
    refuse(tmp, 'analysis/loss_trend.py', tmp, '--window', '0',
           fragments=('argument --window', ))
    refuse(tmp, 'dist_run.py', '--nproc_per_node=0', 'tools/train.py',
           fragments=("GPUS (torchrun --nproc_per_node) is '0'", ))


def test_outputs_are_checked_before_the_run(case):
    tmp = case['tmp']
    folder = tmp / 'taken.json'
    folder.mkdir()
    refuse(tmp, *tester(case, '--out', folder),
           fragments=(f'--out {folder} is a directory', ))
    refuse(tmp, *tester(case, '--out', tmp / 'metrics.txt'),
           fragments=('--out must name a .json', ))
    refuse(tmp, *tester(case, '--dump', case['fifo']),
           fragments=('--dump', 'is not a regular file'))
    refuse(tmp, *tester(case, '--show-dir', case['ckpt']),
           fragments=('--show-dir', 'exists and is not a folder'))
