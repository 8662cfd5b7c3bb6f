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
    # another test in this process may have left mmdet's default scope
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    import hih_plugin  # noqa: F401
    init_default_scope('mmpose')
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
    """tools/quickstart.sh -- the quick start's commands -- on a few images and
    one epoch: trains HIH through configs/hih-local_wflw_quickstart.py,
    tests it with NME, FR@10 and AUC@10, draws predictions with MMPose's
    visualizer and reports the decimal loss trend."""
    env = dict(os.environ, QS_DATA=str(tmp_path / 'data'),
               QS_WORK=str(tmp_path / 'work'), QS_NUM_TRAIN='4',
               QS_NUM_TEST='2', QS_EPOCHS='1',
               PYTHON=__import__('sys').executable, PYTHONUNBUFFERED='1')
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'quickstart.sh')],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    with open(tmp_path / 'work' / 'metrics.json') as f:
        metrics = json.load(f)
    assert np.isfinite(metrics['NME'])
    assert {'FR@10', 'AUC@10'} <= set(metrics)
    pngs = [f for f in os.listdir(tmp_path / 'work' / 'vis')
            if f.endswith('.png')]
    assert len(pngs) == 2
    with open(tmp_path / 'work' / 'vis' / pngs[0], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 'loss_decimal: ' in proc.stdout and ' -> ' in proc.stdout


DATASET_TYPES = {'wflw': 'WFLWDataset', '300w': 'Face300WDataset',
                 'cofw': 'COFWDataset', 'aflw': 'AFLWDataset',
                 'coco': 'CocoDataset', 'mpii': 'MpiiDataset'}


def build_dataset(**kwargs):
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    return DATASETS.build(dict(data_mode='topdown', test_mode=True,
                               pipeline=[], **kwargs))


def keypoint_sets(path):
    """The keys of each record and of each annotation of a COCO-style or
    MPII annotation file."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):  # MPII
        return {'records': set(data[0])}
    return {key: set(data[key][0]) for key in ('images', 'annotations')}


@pytest.mark.parametrize('name', sorted(DATASET_TYPES))
def test_generated_sample_reads_like_the_real_one(name, tmp_path):
    """The data a clone without the real samples tests on: MMPose's loader
    reads it, with the dataset's keypoint count, and where the real sample
    is present, the generated file has the real one's fields."""
    import fixture_data
    from conftest import FIXTURES
    fixture_data.write(name, str(tmp_path))
    extra = {}
    if name == 'coco':
        extra['bbox_file'] = str(tmp_path / 'test_coco_det_AP_H_56.json')
    ds = build_dataset(type=DATASET_TYPES[name], data_root=str(tmp_path),
                       ann_file=f'test_{name}.json', data_prefix=dict(img=''),
                       **extra)
    assert len(ds) >= 2
    num_keypoints = ds.metainfo['num_keypoints']
    import cv2
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        img = cv2.imread(info['img_path'])
        assert img is not None
        if not extra:  # detections carry no keypoints
            kpts = info['keypoints'][0]
            assert kpts.shape == (num_keypoints, 2)
            h, w = img.shape[:2]
            assert np.all((kpts >= 0) & (kpts < (w, h)))
    real = osp.join(FIXTURES, name, f'test_{name}.json')
    if osp.isfile(real):
        ours = keypoint_sets(tmp_path / f'test_{name}.json')
        for key, fields in keypoint_sets(real).items():
            # COCO's own extras (licenses, urls) are not needed to load
            assert fields - ours[key] <= {
                'license', 'coco_url', 'date_captured', 'flickr_url'}, key


@pytest.mark.parametrize('dataset', ['coco', 'mpii'])
def test_make_demo_data_people_in_mmpose_layout(dataset, tmp_path):
    """--dataset coco/mpii: MMPose's layout, which the stock configs read
    with data_root and the box file set; COCO's detections and MPII's head
    boxes load with their splits."""
    out = tmp_path / dataset
    proc = run_tool('make_demo_data.py', '--dataset', dataset, '--out-dir',
                    out, '--num-train', 2, '--num-test', 2)
    if dataset == 'coco':
        dets = out / 'person_detection_results' / \
            'COCO_val2017_detections_AP_H_56_person.json'
        assert f'bbox_file={dets}' in proc.stdout
        train = build_dataset(type='CocoDataset', data_root=str(out),
                              ann_file='annotations/'
                              'person_keypoints_train2017.json',
                              data_prefix=dict(img='train2017/'))
        test = build_dataset(type='CocoDataset', data_root=str(out),
                             ann_file='annotations/'
                             'person_keypoints_val2017.json',
                             data_prefix=dict(img='val2017/'),
                             bbox_file=str(dets))
        with open(out / 'annotations' / 'person_keypoints_val2017.json') as f:
            people = len(json.load(f)['annotations'])
        assert len(test) == 2 * people  # a true and a low-scored box each
    else:
        heads = out / 'annotations' / 'mpii_gt_val.mat'
        assert f'headbox_file={heads}' in proc.stdout
        train = build_dataset(type='MpiiDataset', data_root=str(out),
                              ann_file='annotations/mpii_train.json',
                              data_prefix=dict(img='images/'))
        test = build_dataset(type='MpiiDataset', data_root=str(out),
                             ann_file='annotations/mpii_val.json',
                             data_prefix=dict(img='images/'),
                             headbox_file=str(heads))
        assert all(test.get_data_info(i)['head_size'].min() > 0
                   for i in range(len(test)))
    assert len(train) >= 2 and len(test) >= 2
