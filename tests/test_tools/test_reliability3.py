"""No hang, no bomb and no traceback from any file a user is handed;
publishing that cannot escape or publish NaN.

Each class is checked through the real tool, run as ``python tools/X.py``
would run it (conftest.run_tool): exit status 2, exactly one ``error:``
line, no traceback, and for checkpoints a time and memory bound. One tiny
run, trained once for the module, provides the checkpoints (and shows that
``--no-validate`` takes ``--cfg-options`` naming ``val_dataloader``).
"""
import json
import os
import os.path as osp
import pickle
import random
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
import torch
from conftest import ROOT, fixture_dir, run_tool
from ecosystem_utils import free_port, tiny_hih_wflw

from hih_plugin.checkpoint import load_file
from hih_plugin.errors import UserError

ENV = dict(PYTHONPATH=ROOT, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
           CUDA_VISIBLE_DEVICES='')
# Bounds for a tool refusing a crafted checkpoint, over what the demo takes
# with a good one: CPU seconds (not wall time: the bound must hold on a busy
# machine) and peak memory (about 1 GiB, most of it torch and MMPose, which
# a forked run shares with the tool server).
EXTRA_SECONDS = 30
EXTRA_MIB = 300


def tool(script, *args, env=None, timeout=900):
    """Run ``tools/<script>`` (conftest.run_tool); returns a
    CompletedProcess with its CPU seconds and peak memory."""
    return run_tool(script, *args, env=dict(ENV, **(env or {})),
                    timeout=timeout, check=False)


def one_error(result, *fragments):
    """Exit 2, one error line holding ``fragments``, no traceback."""
    err = result.stderr
    assert result.returncode == 2, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith('error:')]
    assert len(errors) == 1, err[-3000:]
    assert 'Traceback' not in err + result.stdout, err[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Two epochs of a tiny HIH on a copy of the WFLW fixture, with
    ``--no-validate`` and ``--cfg-options`` naming ``val_dataloader``."""
    tmp = tmp_path_factory.mktemp('reliability3')
    root = tmp / 'wflw'
    shutil.copytree(fixture_dir('wflw'), root)
    config = tiny_hih_wflw(tmp / 'tiny.py', str(root),
                           'train_cfg = dict(max_epochs=2)')
    work = tmp / 'work'
    result = tool('train.py', config, '--work-dir', work, '--no-validate',
                  '--cfg-options', 'val_dataloader.batch_size=2',
                  'val_dataloader.dataset.data_root=/nowhere')
    assert result.returncode == 0, result.stderr[-3000:]
    image = root / json.loads(
        (root / 'test_wflw.json').read_text())['images'][0]['file_name']
    return dict(tmp=tmp, root=root, config=config, work=work,
                ckpt=work / 'epoch_2.pth', image=image)


def rewrite_pickle(src, dst, data):
    """Copy the zip ``src`` to ``dst`` with ``data`` as its data.pkl."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            body = zin.read(info)
            zout.writestr(info.filename, data if info.filename.endswith(
                '/data.pkl') else body)


def crafted_checkpoint(kind, tiny, path):
    ckpt = tiny['ckpt']
    if kind == 'tar_fifo_then_zip':
        # valid as a zip, but torch would read it as a legacy tar file
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w') as tar:
            for name in ('storages', 'tensors', 'pickle'):
                info = tarfile.TarInfo(name)
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
        path.write_bytes(buf.getvalue() + ckpt.read_bytes())
    elif kind == 'memo_bomb':
        # level k is a list of 40 references to level k - 1: 2.5 kB here
        parts = [b'\x80\x02X\x04\x00\x00\x00abcdr\x00\x00\x00\x00']
        for level in range(1, 30):
            parts.append(b']r' + struct.pack('<I', level) + b'(' + (
                b'j' + struct.pack('<I', level - 1)) * 40 + b'e')
        rewrite_pickle(ckpt, path, b''.join(parts) + b'.')
    elif kind == 'container_state':
        # an OrderedDict whose state would shadow its get and items
        rewrite_pickle(ckpt, path, (
            b'\x80\x02ccollections\nOrderedDict\n)R}(X\x03\x00\x00\x00get'
            b'K\x01X\x05\x00\x00\x00itemsK\x02ub.'))
    else:  # dataset_meta whose flip_indices point past the 98 keypoints
        raw = load_file(str(ckpt))
        meta = dict(raw['meta']['dataset_meta'])
        meta['flip_indices'] = list(meta['flip_indices'][:-1]) + [500]
        torch.save(dict(raw, meta=dict(raw['meta'], dataset_meta=meta)),
                   path)
    return path


def demo(tiny, ckpt, *extra):
    # the whole image: generated faces are drawn, no face detector's
    return tool('demo.py', tiny['image'], tiny['config'], ckpt,
                '--out-file', tiny['tmp'] / 'vis.png', '--device', 'cpu',
                '--face-detector', 'none', *extra, timeout=900)


@pytest.fixture(scope='module')
def good_demo(tiny):
    result = demo(tiny, tiny['ckpt'])
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize('kind, fragment', [
    ('tar_fifo_then_zip', 'does not start with a zip record'),
    ('memo_bomb', 'memory bomb'),
    ('container_state', 'setting the state of a OrderedDict'),
    ('dataset_meta', 'meta.dataset_meta.flip_indices'),
])
def test_crafted_checkpoint_is_one_line_in_bounded_time_and_memory(
        tiny, good_demo, tmp_path, kind, fragment):
    path = crafted_checkpoint(kind, tiny, tmp_path / f'{kind}.pth')
    result = demo(tiny, path)
    one_error(result, fragment, str(path))
    seconds, good_seconds = result.cpu_s, good_demo.cpu_s
    assert seconds < good_seconds + EXTRA_SECONDS, (seconds, good_seconds)
    mib, good_mib = result.maxrss_kb >> 10, good_demo.maxrss_kb >> 10
    assert mib < good_mib + EXTRA_MIB, (mib, good_mib)


def test_resume_names_newest_earlier_checkpoint_that_loads(tiny, tmp_path):
    work = tmp_path / 'work'
    shutil.copytree(tiny['work'], work)
    last = work / 'epoch_2.pth'
    last.write_bytes(last.read_bytes()[:4000])  # cut short
    (work / 'last_checkpoint').write_text(str(last))
    result = tool('train.py', tiny['config'], '--work-dir', work,
                  '--resume')
    one_error(result, 'epoch_2.pth', 'newest earlier checkpoint that loads '
              f'is {work / "epoch_1.pth"}')


# ------------------------------------------------------------ publishing
def publish(tiny, out, *extra, metrics='{"NME": 0.05}'):
    (tiny['tmp'] / 'metrics.json').write_text(metrics)
    return tool('publish_model.py', tiny['config'], tiny['ckpt'],
                tiny['tmp'] / 'metrics.json', '--out-dir', out,
                '--zoo-config', 'configs/tiny.py', *extra)


def files_under(folder):
    return {osp.join(d, f) for d, _, fs in os.walk(folder) for f in fs}


def test_publish_name_must_be_a_file_stem(tiny, tmp_path):
    before = files_under(tmp_path)
    one_error(publish(tiny, tmp_path / 'out', '--name', '../../escaped',
                      '--project'), 'not a plain file stem')
    assert files_under(tmp_path) == before


@pytest.mark.parametrize('name', ['/tmp/abs', 'a\nb', 'a/b', '..',
                                  '.hidden', 'x' * 200])
def test_publish_name_rule(name):
    import argparse
    with pytest.raises(UserError, match='not a plain file stem'):
        publish_tool().model_name(argparse.Namespace(name=name,
                                                     config='c.py'))


def test_publish_refuses_non_finite_metric(tiny, tmp_path):
    one_error(publish(tiny, tmp_path / 'out',
                      metrics='{"NME": 0.05, "AUC": NaN}'), 'metric AUC')
    assert not files_under(tmp_path)


@pytest.mark.parametrize('value', ['NaN', 'Infinity', '-Infinity', '1e308',
                                   '1e400', '"0.5"', '[1]', 'true',
                                   '1' * 5000])
def test_publish_metric_rule(tmp_path, value):
    path = tmp_path / 'm.json'
    path.write_text(f'{{"NME": 0.05, "AUC": {value}}}')
    with pytest.raises(UserError, match='AUC|not readable JSON'):
        publish_tool().select_metrics(str(path), None, 4)


def publish_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'publish_tool', osp.join(ROOT, 'tools', 'publish_model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_publish_out_dir_that_is_a_file(tiny, tmp_path):
    (tmp_path / 'file').write_text('x')
    one_error(publish(tiny, tmp_path / 'file'), 'is not a folder')


def test_publish_writes_nothing_outside_out_dir(tiny, tmp_path):
    out, outside = tmp_path / 'out', tmp_path / 'outside'
    outside.mkdir()
    victim = outside / 'victim.txt'
    victim.write_text('keep')
    out.mkdir()
    # links planted where the tool writes: replaced, never followed
    for name in ('tiny.yml', 'tiny.md'):
        os.symlink(victim, out / name)
    before = files_under(tmp_path) - files_under(out)
    result = publish(tiny, out, '--project')
    assert result.returncode == 0, result.stderr[-3000:]
    assert files_under(tmp_path) - files_under(out) == before
    assert victim.read_text() == 'keep'
    assert not any(osp.islink(p) for p in files_under(out))
    assert (out / 'projects' / 'tiny' / 'README.md').is_file()


# ------------------------------------------------------------------ data
def damage_body(path):
    """Overwrite 2 kB in the middle of a JPEG with random bytes, start and
    end markers intact (zeros can still decode cleanly in a drawn image's
    short entropy-coded data; random bytes hold stray markers)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    data[mid:mid + 2000] = random.Random(0).randbytes(2000)
    path.write_bytes(bytes(data))


def test_damaged_image_body_stops_testing_at_load_time(tiny, tmp_path):
    root = tmp_path / 'wflw'
    shutil.copytree(tiny['root'], root)
    image = root / tiny['image'].name
    damage_body(image)
    result = tool('test.py', tiny['config'], tiny['ckpt'], '--work-dir',
                  tmp_path / 'work', '--cfg-options',
                  f'test_dataloader.dataset.data_root={root}',
                  # the worker path: the error crosses a DataLoader worker
                  'test_dataloader.num_workers=1')
    one_error(result, str(image), 'is damaged', 'Corrupt JPEG data')


def png_header(width, height):
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body +
                struct.pack('>I', zlib.crc32(kind + body)))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack(
        '>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
        chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))


def test_declared_size_beyond_pixel_limit_is_refused_before_decoding(
        tiny, tmp_path):
    root = tmp_path / 'wflw'
    shutil.copytree(tiny['root'], root)
    image = root / tiny['image'].name
    image.write_bytes(png_header(60000, 60000))
    result = tool('train.py', tiny['config'], '--work-dir',
                  tmp_path / 'work', '--cfg-options',
                  f'train_dataloader.dataset.data_root={root}')
    one_error(result, str(image), '60000x60000', 'HIH_MAX_IMAGE_PIXELS')
    # the limit is configurable: raised, the pre-run check lets it pass,
    # and loading refuses the undecodable body instead
    raised = dict(HIH_MAX_IMAGE_PIXELS=str(60000 * 60000))
    result = tool('train.py', tiny['config'], '--work-dir',
                  tmp_path / 'work2', '--cfg-options',
                  f'train_dataloader.dataset.data_root={root}', env=raised)
    one_error(result, str(image))


def test_wrong_annotation_types_are_one_line(tiny, tmp_path):
    root = tmp_path / 'wflw'
    shutil.copytree(tiny['root'], root)
    ann = root / 'test_wflw.json'
    data = json.loads(ann.read_text())
    data['annotations'][1]['keypoints'] = [
        str(v) for v in data['annotations'][1]['keypoints']]
    ann.write_text(json.dumps(data))
    result = tool('train.py', tiny['config'], '--work-dir',
                  tmp_path / 'work', '--cfg-options',
                  f'train_dataloader.dataset.data_root={root}')
    one_error(result, str(ann), '(entry 1)', 'not numbers')


# ------------------------------------------------ demo and distributed
def test_demo_refuses_absurd_boxes(tiny):
    # refused as it is parsed, before the image is read
    one_error(demo(tiny, tiny['ckpt'], '--kpt-thr', '0', '--bboxes',
                   '10', '10', 'inf', 'inf'), "--bboxes: 'inf' is not a "
              'finite number')


@pytest.mark.parametrize('box', [[10, 10, float('inf'), 20],
                                 [0, 0, 1e30, 1e30],
                                 [float('nan'), 0, 10, 10],
                                 [-500, -500, 10, 10],
                                 [1, 1, 1.5, 1.5]])
def test_demo_box_rule(box):
    import importlib.util

    import numpy as np
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(UserError, match='not a box of the|is empty'):
        module.given_boxes(box, np.zeros((100, 200, 3), np.uint8))


def test_dist_train_failure_is_one_line_with_its_status(tiny, tmp_path):
    env = dict(os.environ, **ENV, PYTHON=sys.executable,
               PORT=str(free_port()))
    result = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), tiny['config'],
         '2', '--work-dir', tmp_path, '--cfg-options',
         'train_dataloader.dataset.data_root=/nowhere'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    one_error(result, 'train data root not found: /nowhere')
    assert 'ChildFailedError' not in result.stderr


def test_no_validate_drops_val_after_cfg_options():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    args = train.build_parser().parse_args(
        ['configs/hih_wflw.py', '--no-validate', '--cfg-options',
         'val_dataloader.num_workers=0', 'val_cfg.type=ValLoop'])
    cfg = train.merge_args(train.load_config(
        osp.join(ROOT, 'configs', 'hih_wflw.py')), args)
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert pickle.dumps(cfg.val_evaluator) == pickle.dumps(None)


# ------------------------------------------- the rules, in process (fast)
FACE = dict(center=[50, 40], scale=0.3, num_keypoints=98, iscrowd=0)
BASE = dict(images=[dict(id=1, file_name='a.jpg', width=100, height=80),
                    dict(id=2, file_name='b.jpg', width=100, height=80)],
            annotations=[dict(id=7, image_id=1, keypoints=[1, 2, 2] * 98,
                              **FACE),
                         dict(id=8, image_id=2, keypoints=[3, 4, 2] * 98,
                              **FACE)])


def _with(change):
    data = json.loads(json.dumps(BASE))
    change(data)
    return data


@pytest.mark.parametrize('change, fragment', [
    (lambda d: d.pop('images'), 'no "images" list'),
    (lambda d: d['annotations'].append([1, 2]), 'annotation entry 2 is a '
     'list'),
    (lambda d: d['annotations'][1].update(keypoints=['1'] * 294),
     '(entry 1) has keypoints that are not numbers'),
    (lambda d: d['annotations'][1].update(keypoints=[[1, 2, 2]] * 98),
     '(entry 1) has no "keypoints" list'),
    (lambda d: d['images'][1].update(id=1), 'repeats image id 1'),
    (lambda d: d['annotations'][0].update(image_id=9),
     'refers to image_id 9'),
    (lambda d: d['annotations'][1]['keypoints'].__setitem__(3, 1e308),
     'annotation 8 (entry 1) has keypoint 1 at (1e+308, 4)'),
    (lambda d: d['annotations'][0]['keypoints'].__setitem__(
        4, float('nan')), 'annotation 7 (entry 0) has keypoint 1 at (1, nan)'),
    (lambda d: d['annotations'][0].update(bbox=[0, 0, 'x', 1]),
     '"bbox" [0, 0, \'x\', 1], not a list of 4 finite numbers'),
    (lambda d: d['images'][0].update(file_name=None), 'image entry 0'),
    # non-finite numbers and shapes of the fields MMPose's datasets read
    (lambda d: d['annotations'][1].update(scale=float('nan')),
     '(entry 1) has "scale" nan, not a positive finite number'),
    (lambda d: d['annotations'][1].update(scale=[1.0, 1.0]),
     'has "scale" [1.0, 1.0], not a positive finite number'),
    (lambda d: d['annotations'][0].update(center=[1, float('inf')]),
     'has "center" [1, inf], not a list of 2 finite numbers'),
    (lambda d: d['annotations'][0].update(center=[1, 2, 3]),
     'has "center" [1, 2, 3], not a list of 2'),
    (lambda d: d['annotations'][0].update(bbox=[0, 0, 1]),
     'has "bbox" [0, 0, 1], not a list of 4'),
    (lambda d: d['annotations'][0].update(num_keypoints=99),
     'has "num_keypoints" 99, not a whole number from 0 to the keypoint'),
    (lambda d: d['annotations'][0].update(num_keypoints=1.5),
     'has "num_keypoints" 1.5'),
    (lambda d: d['images'][1].update(height=float('nan')),
     'image entry 1 has a "width" or "height" that is not a positive'),
    # a key the dataset class reads and the file lacks: its own parser,
    # named with the entry
    (lambda d: d['annotations'][1].pop('iscrowd'),
     'annotation 8 (entry 1) cannot be read by WFLWDataset (KeyError: '
     "'iscrowd')"),
])
def test_annotation_rules(tmp_path, change, fragment):
    from mmengine.config import Config

    from hih_plugin.cli.checks.data import check_dataset_content
    (tmp_path / 'ann.json').write_text(json.dumps(_with(change)))
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='WFLWDataset', data_root=str(tmp_path), ann_file='ann.json',
        data_prefix=dict(img='')))))
    with pytest.raises(UserError) as err:
        check_dataset_content(cfg, ('train', ))
    msg = str(err.value)
    assert fragment in msg and str(tmp_path / 'ann.json') in msg, msg
    assert '\n' not in msg


@pytest.mark.parametrize('key, value', [
    ('flip_indices', [0] * 97 + [98]),
    ('flip_indices', [0] * 5),
    ('skeleton_links', [[0, 1], [2, 98]]),
    ('num_keypoints', 17),
    ('keypoint_colors', [[0, 0, 0]] * 17),
    ('sigmas', [float('nan')] * 98),
    ('keypoint_id2name', {0: 'a', 200: 'b'}),
])
def test_dataset_meta_rules(key, value):
    from hih_plugin.cli.checks.meta import checked_meta
    with pytest.raises(UserError, match=f'meta.dataset_meta.{key}'):
        checked_meta({'meta': {'dataset_meta': {key: value}}}, 98, 'c.pth')
    kept = checked_meta({'meta': {'dataset_meta': {
        'flip_indices': list(range(98)), 'img': 'not metadata'}}}, 98, 'c')
    assert kept == {'flip_indices': list(range(98))}
