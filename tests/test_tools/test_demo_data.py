"""tools/make_demo_data.py writes a WFLW-format dataset that MMPose reads,
with landmarks on the drawn structure; the quick start runs on it."""
import json
import os
import os.path as osp
import subprocess

import numpy as np
import pytest

from conftest import ROOT, run_tool

pytest.importorskip('mmpose')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo_wflw')
    run_tool('make_demo_data.py', '--out-dir', out, '--num-train', 6,
             '--num-test', 3, '--seed', 3)
    return out


def test_annotations_are_wflw_coco_style(demo):
    with open(demo / 'annotations' / 'face_landmarks_wflw_train.json') as f:
        ann = json.load(f)
    assert set(ann) == {'images', 'annotations', 'categories'}
    assert len(ann['images']) == len(ann['annotations']) == 6
    a = ann['annotations'][0]
    for key in ('keypoints', 'num_keypoints', 'bbox', 'center', 'scale',
                'area', 'iscrowd', 'category_id', 'image_id', 'id'):
        assert key in a, key
    assert len(a['keypoints']) == 98 * 3 and a['num_keypoints'] == 98
    with open(demo / 'annotations' / 'face_landmarks_wflw_test.json') as f:
        test = json.load(f)
    ids = {i['id'] for i in ann['images']} | {i['id'] for i in test['images']}
    assert len(ids) == 9  # image ids do not clash across splits


def test_mmpose_wflw_dataset_reads_it(demo):
    import cv2
    from mmpose.registry import DATASETS
    import hih_plugin  # noqa: F401

    ds = DATASETS.build(
        dict(type='WFLWDataset', data_root=str(demo), data_mode='topdown',
             ann_file='annotations/face_landmarks_wflw_test.json',
             data_prefix=dict(img='images/'), test_mode=True, pipeline=[]))
    assert len(ds) == 3 and ds.metainfo['dataset_name'] == 'wflw'
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        kpts = info['keypoints'][0]
        img = cv2.imread(info['img_path'])
        assert img is not None and img.shape == (256, 256, 3)
        assert kpts.shape == (98, 2)
        assert np.all((kpts > 0) & (kpts < 256))
        # WFLW's layout: 60 (image-left eye's outer corner) lies left of 72,
        # the chin (16) below the eyes, the pupils between the eye corners.
        assert kpts[60, 0] < kpts[72, 0]
        eyes_y = (kpts[60, 1] + kpts[72, 1]) / 2
        assert kpts[16, 1] > eyes_y
        assert min(kpts[60, 0], kpts[64, 0]) < kpts[96, 0] < \
            max(kpts[60, 0], kpts[64, 0]) + 2
        # The brows are drawn dark over light skin: the landmarks sit on the
        # drawing, not beside it.
        gray = img.astype(np.float64).mean(-1)

        def at(p):
            return gray[int(round(p[1])), int(round(p[0]))]

        brows = (at((kpts[35] + kpts[40]) / 2) + at(
            (kpts[44] + kpts[48]) / 2)) / 2
        cheeks = (at(0.6 * kpts[5] + 0.4 * kpts[53]) +
                  at(0.6 * kpts[27] + 0.4 * kpts[53])) / 2
        assert brows < cheeks - 10, (brows, cheeks)


def test_quickstart_runs_end_to_end(tmp_path):
    """tools/quickstart.sh -- the README's commands -- on a few images and
    one epoch: trains HIH through configs/hih-local_wflw.py, tests it with
    NME, draws predictions with MMPose's visualizer and reports the decimal
    loss trend."""
    env = dict(os.environ, QS_DATA=str(tmp_path / 'data'),
               QS_WORK=str(tmp_path / 'work'), QS_NUM_TRAIN='4',
               QS_NUM_TEST='2', QS_EPOCHS='1', QS_BATCH='4',
               PYTHON=__import__('sys').executable, PYTHONUNBUFFERED='1')
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'quickstart.sh')],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    with open(tmp_path / 'work' / 'metrics.json') as f:
        metrics = json.load(f)
    assert np.isfinite(metrics['NME'])
    pngs = [f for f in os.listdir(tmp_path / 'work' / 'vis')
            if f.endswith('.png')]
    assert len(pngs) == 2
    with open(tmp_path / 'work' / 'vis' / pngs[0], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 'loss_decimal: ' in proc.stdout and ' -> ' in proc.stdout
