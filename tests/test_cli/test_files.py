"""The checks behind the tools' refusals, in process: files read as
bounded regular files, numeric arguments in ranges, one-line argument
errors, non-finite metrics, a work dir's ``last_checkpoint``."""
import argparse
import os

import pytest
from mmengine.config import Config

from hih_plugin.cli import ArgumentParser, add_cfg_options, number
from hih_plugin.cli.checks.model import resume_source
from hih_plugin.cli.checks.run import check_finite_metrics
from hih_plugin.cli.files import check_regular_file, load_json, read_bounded
from hih_plugin.errors import UserError


def refused(call, *fragments):
    with pytest.raises(UserError) as err:
        call()
    msg = str(err.value)
    assert '\n' not in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / 'pipe.json'
    os.mkfifo(path)
    return str(path)


# a reader that opened the FIFO would wait for a writer forever
@pytest.mark.timeout(20)
@pytest.mark.parametrize('read', [check_regular_file, read_bounded,
                                  load_json])
def test_fifo_is_refused_without_blocking(fifo, read):
    refused(lambda: read(fifo, 'metrics file', 1 << 20),
            f'metrics file {fifo} is not a regular file (a FIFO')


@pytest.mark.timeout(20)
def test_device_and_directory_are_refused(tmp_path):
    refused(lambda: read_bounded('/dev/zero', 'log', 1 << 20),
            'log /dev/zero is not a regular file')
    link = tmp_path / 'scalars.json'
    link.symlink_to('/dev/zero')  # what a link points at counts
    refused(lambda: load_json(str(link), 'log', 1 << 20), 'not a regular')
    refused(lambda: load_json(str(tmp_path), 'log', 1 << 20),
            'is a directory, not a file')


def test_size_is_bounded_before_reading(tmp_path):
    path = tmp_path / 'big.json'
    path.write_text('[' + '0,' * 600 + '0]')
    refused(lambda: load_json(str(path), 'annotation file', 1024, 'fix it'),
            'is 1.17 KiB, more than the 1 KiB such a file may have; fix it')
    assert load_json(str(path), 'annotation file', 2048) == [0] * 601


@pytest.mark.parametrize('text, fragment', [
    ('[' * 100_000 + ']' * 100_000, 'nests JSON arrays or objects deeper'),
    ('{"a": 1,}', 'is not valid JSON: Expecting property name enclosed in '
     'double quotes at line 1 column 9'),
    ('9' * 5000, 'is not readable JSON (Exceeds the limit'),
])
def test_malformed_json_is_one_line(tmp_path, text, fragment):
    path = tmp_path / 'a.json'
    path.write_text(text)
    refused(lambda: load_json(str(path), 'metrics file', 1 << 20), fragment)


def test_not_utf8_is_named(tmp_path):
    path = tmp_path / 'a.json'
    path.write_bytes(b'{"a": "\xff"}')
    refused(lambda: load_json(str(path), 'metrics file', 1 << 20),
            'is not UTF-8 JSON text (invalid start byte at byte 7)')


def parse(*argv, kind=float, low=0, high=1):
    parser = ArgumentParser(prog='tool.py')
    parser.add_argument('--x', type=number(kind, low, high))
    add_cfg_options(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize('value, kind, fragment', [
    ('nan', float, "argument --x: 'nan' is not a number from 0 to 1"),
    ('inf', float, "'inf' is not a number from 0 to 1"),
    ('-0.5', float, "'-0.5' is not a number from 0 to 1"),
    ('2', int, "'2' is not a whole number from 0 to 1"),
    ('1.0', int, "'1.0' is not a whole number"),
    ('abc', float, "'abc' is not a number"),
])
def test_number_refuses_non_finite_and_out_of_range(value, kind, fragment):
    msg = refused(lambda: parse('--x', value, kind=kind), fragment)
    assert msg.endswith('; see tool.py --help')


def test_number_accepts_its_range_and_open_ends():
    assert parse('--x', '0.25').x == 0.25
    assert parse('--x', '1', kind=int).x == 1
    assert number(int, 1)('10000000') == 10_000_000
    with pytest.raises(argparse.ArgumentTypeError, match='of at least 1'):
        number(int, 1)('0')


@pytest.mark.parametrize('entry', ['foo', '=1', ' =1'])
def test_cfg_options_entry_without_key_is_refused(entry):
    refused(lambda: parse('--cfg-options', 'a=1', entry),
            f'argument --cfg-options: {entry!r} is not KEY=VALUE')
    assert parse('--cfg-options', 'a.b=1', 'c=x=y').cfg_options == {
        'a.b': 1, 'c': 'x=y'}


def test_missing_argument_is_one_line():
    parser = ArgumentParser(prog='tool.py')
    parser.add_argument('config')
    refused(lambda: parser.parse_args([]),
            'the following arguments are required: config')


def test_non_finite_metric_is_refused_by_name():
    check_finite_metrics({'NME': 0.05, 'note': 'text', 'n': 3})
    refused(lambda: check_finite_metrics({'PCK': 0.9, 'NME': float('nan')}),
            'metric NME of the test is nan, not a finite number')
    import numpy as np
    refused(lambda: check_finite_metrics({'AUC': np.float32('inf')}),
            'metric AUC of the test is inf')


def work_dir_cfg(tmp_path, resume=True, load_from=None):
    return Config(dict(work_dir=str(tmp_path), resume=resume,
                       load_from=load_from))


@pytest.mark.timeout(20)
def test_last_checkpoint_must_be_a_small_regular_file(tmp_path):
    pointer = tmp_path / 'last_checkpoint'
    os.mkfifo(pointer)
    # checked even without --resume: the runner rewrites it at every save
    refused(lambda: resume_source(work_dir_cfg(tmp_path, resume=False)),
            "the work dir's last_checkpoint", 'is not a regular file')
    pointer.unlink()
    pointer.symlink_to('/dev/zero')
    refused(lambda: resume_source(work_dir_cfg(tmp_path)),
            'is not a regular file')
    pointer.unlink()
    pointer.write_text('\n')
    refused(lambda: resume_source(work_dir_cfg(tmp_path)),
            'names no checkpoint path')
    pointer.write_text(str(tmp_path))  # a folder, not a checkpoint
    refused(lambda: resume_source(work_dir_cfg(tmp_path)),
            f'checkpoint {tmp_path} is a directory')
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'x')
    pointer.write_text(str(ckpt) + '\n')
    assert resume_source(work_dir_cfg(tmp_path)) == str(ckpt)
    assert resume_source(work_dir_cfg(tmp_path, resume=False)) is None


def test_no_last_checkpoint_starts_anew(tmp_path):
    assert resume_source(work_dir_cfg(tmp_path)) is None
