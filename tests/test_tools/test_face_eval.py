"""tools/analysis/face_eval.py: every WFLW test split in one run, on split
files made here from the WFLW fixture."""
import json
import os
import os.path as osp

import pytest
from conftest import ROOT, assert_one_error, fixture_dir, run_tool
from mmengine.config import Config
from tool_options import ONE_THREAD, as_cli, tiny_model_options

CONFIG = osp.join(ROOT, 'configs', 'hih_wflw.py')
WFLW_SPLITS = ('full', 'pose', 'expression', 'illumination', 'make-up',
               'occlusion', 'blur')
SUBSET_FILES = ('largepose', 'expression', 'illumination', 'makeup',
                'occlusion', 'blur')


def subset(coco, image_ids):
    return dict(coco, images=[i for i in coco['images']
                              if i['id'] in image_ids],
                annotations=[a for a in coco['annotations']
                             if a['image_id'] in image_ids])


@pytest.fixture(scope='module')
def wflw(tmp_path_factory):
    """A WFLW data root in MMPose's layout: the fixture as the full test
    set, and each subset a different part of it; a tiny random model."""
    from ecosystem_utils import save_random_weights
    fixture = fixture_dir('wflw')
    tmp = tmp_path_factory.mktemp('face_eval')
    root = tmp / 'wflw'
    (root / 'annotations').mkdir(parents=True)
    (root / 'images').mkdir()
    with open(osp.join(fixture, 'test_wflw.json')) as f:
        coco = json.load(f)
    for image in coco['images']:
        os.symlink(osp.join(fixture, image['file_name']),
                   root / 'images' / image['file_name'])
    ids = [i['id'] for i in coco['images']]
    assert len(ids) >= 2
    files = {'': coco}
    for n, name in enumerate(SUBSET_FILES):
        files[f'_{name}'] = subset(coco, {ids[n % len(ids)]})
    # one row of per-face errors per annotated face
    faces = [len(files[f'_{name}']['annotations']) for name in SUBSET_FILES]
    for suffix, content in files.items():
        path = root / 'annotations' / f'face_landmarks_wflw_test{suffix}.json'
        path.write_text(json.dumps(content))

    model_opts = tiny_model_options(Config.fromfile(CONFIG))
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(model_opts)
    cfg.dump(str(tmp / 'trained.py'))
    ckpt = save_random_weights(str(tmp / 'trained.py'), tmp / 'hih.pth')
    opts = as_cli({**model_opts, 'test_dataloader.batch_size': 2,
                   'test_dataloader.num_workers': 0,
                   'test_dataloader.persistent_workers': False})
    return dict(root=root, ckpt=ckpt, opts=opts, tmp=tmp,
                faces=dict(zip(WFLW_SPLITS,
                               [len(coco['annotations'])] + faces)))


def test_face_eval_every_wflw_split(wflw, tmp_path):
    out = tmp_path / 'out'
    proc = run_tool('analysis/face_eval.py', CONFIG, wflw['ckpt'],
                    '--data-root', wflw['root'], '--out-dir', out,
                    '--cfg-options', *wflw['opts'], env=ONE_THREAD)
    result = json.loads((out / 'face_eval.json').read_text())
    rows = {row['split']: row for row in result['splits']}
    assert list(rows) == list(WFLW_SPLITS)
    for name, row in rows.items():
        assert row['faces'] == wflw['faces'][name]
        assert row['NME (%)'] > 0
        assert 0 <= row['FR@10 (%)'] <= 100
        assert 0 <= row['AUC@10'] <= 1
    # the full set is the union of the two one-image subsets
    full, a, b = rows['full'], rows['pose'], rows['expression']
    assert full['NME (%)'] == pytest.approx(
        (a['NME (%)'] * a['faces'] + b['NME (%)'] * b['faces'])
        / full['faces'], rel=1e-4)

    table = (out / 'face_eval.md').read_text()
    assert '| split | faces | NME (%) | FR@10 (%) | AUC@10 |' in table
    for name, row in rows.items():
        assert f'| {name} | {row["faces"]} | {row["NME (%)"]:.2f} |' in table
    assert '| make-up |' in proc.stdout
    # the config and environment are logged once, not once per split, and
    # each split says it is done
    logs = proc.stdout + proc.stderr
    assert logs.count('Config:') == 1 and logs.count('System environment') == 1
    for i, name in enumerate(WFLW_SPLITS, 1):
        assert f'[{i}/{len(WFLW_SPLITS)}] {name}: NME ' in proc.stdout
    png = out / 'face_eval_ced.png'
    assert png.is_file() and png.stat().st_size > 1000
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_missing_split_file_is_named(wflw, tmp_path):
    root = tmp_path / 'wflw'
    (root / 'annotations').mkdir(parents=True)
    for path in (wflw['root'] / 'annotations').iterdir():
        if 'blur' not in path.name:
            os.symlink(path, root / 'annotations' / path.name)
    proc = run_tool('analysis/face_eval.py', CONFIG, wflw['ckpt'],
                    '--data-root', root, '--out-dir', tmp_path / 'out',
                    check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line, ) = [ln for ln in proc.stderr.splitlines()
                if ln.startswith('error:')]
    assert 'Traceback' not in proc.stderr
    missing = root / 'annotations' / 'face_landmarks_wflw_test_blur.json'
    assert f'blur split file not found: {missing}' in line
    assert 'docs/training.md, section "Data preparation"' in line


def split_root(wflw, tmp_path, change=None):
    """A data root of links to the fixture's split files; ``change`` edits
    the first annotation of the blur split, written as a file of its own."""
    root = tmp_path / 'wflw'
    (root / 'annotations').mkdir(parents=True)
    os.symlink(wflw['root'] / 'images', root / 'images')
    for path in (wflw['root'] / 'annotations').iterdir():
        os.symlink(path, root / 'annotations' / path.name)
    blur = root / 'annotations' / 'face_landmarks_wflw_test_blur.json'
    if change:
        data = json.loads(blur.read_text())
        change(data['annotations'][0])
        blur.unlink()
        blur.write_text(json.dumps(data))
    return root, blur


def test_split_files_get_the_test_tools_checks(wflw, tmp_path):
    """A NaN in one split stops the tool before any split runs, as
    tools/test.py would stop, and nothing is written."""
    root, blur = split_root(
        wflw, tmp_path, lambda ann: ann.update(scale=float('nan')))
    out = tmp_path / 'out'
    proc = run_tool('analysis/face_eval.py', CONFIG, wflw['ckpt'],
                    '--data-root', root, '--out-dir', out,
                    '--cfg-options', *wflw['opts'], check=False, timeout=60)
    assert_one_error(proc, str(blur), '"scale" nan, not a positive finite')
    assert not list(out.iterdir())
    assert 'NME' not in proc.stdout  # no split was tested


def test_output_that_is_a_folder_is_refused_before_the_run(wflw, tmp_path):
    root, _ = split_root(wflw, tmp_path)
    out = tmp_path / 'out'
    (out / 'face_eval.md').mkdir(parents=True)
    proc = run_tool('analysis/face_eval.py', CONFIG, wflw['ckpt'],
                    '--data-root', root, '--out-dir', out,
                    '--cfg-options', *wflw['opts'], check=False, timeout=60)
    assert_one_error(proc, f'{out / "face_eval.md"} is a directory')
    assert sorted(p.name for p in out.iterdir()) == ['face_eval.md']
