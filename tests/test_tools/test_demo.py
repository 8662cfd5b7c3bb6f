"""tools/demo.py and MMPoseInferencer with our configs, on fixture images,
with tiny randomly initialised models; and the demo's and tools/test.py's
refusal of bad input (a checkpoint of another model, an unreadable image)."""
import importlib.util
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from conftest import LFPW_PHOTOS, ROOT, assert_one_error, fixture_dir, run_tool
from ecosystem_utils import (data_options, save_random_weights, tiny_h3r_coco,
                             tiny_hih_wflw)
from tool_options import annotated_image

mmcv = pytest.importorskip('mmcv')
pytest.importorskip('mmpose')

DET_CONFIG = osp.join(ROOT, 'tests', 'configs', 'tiny_rpn_det.py')


@pytest.fixture(scope='module')
def person(tmp_path_factory):
    """Tiny H3R COCO config and a random-weight checkpoint of it."""
    root = fixture_dir('coco')
    tmp = tmp_path_factory.mktemp('person')
    config = tiny_h3r_coco(tmp / 'tiny_h3r_coco.py', root)
    ckpt = save_random_weights(config, tmp / 'h3r.pth')
    img, boxes = annotated_image(root, 'test_coco.json')  # the GT's boxes
    return dict(root=root, config=config, ckpt=ckpt, img=img, boxes=boxes)


@pytest.fixture(scope='module')
def face(tmp_path_factory):
    """Tiny HIH WFLW config and a random-weight checkpoint of it."""
    root = fixture_dir('wflw')
    tmp = tmp_path_factory.mktemp('face')
    config = tiny_hih_wflw(tmp / 'tiny_hih_wflw.py', root)
    ckpt = save_random_weights(config, tmp / 'hih.pth')
    return dict(root=root, config=config, ckpt=ckpt,
                img=annotated_image(root, 'test_wflw.json')[0])


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    import torch
    from mmdet.apis import init_detector
    model = init_detector(DET_CONFIG, None, device='cpu')
    model.init_weights()
    path = tmp_path_factory.mktemp('det') / 'tiny_rpn.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def assert_png_like(out, img):
    assert osp.isfile(out), f'{out} was not written'
    assert mmcv.imread(out).shape == mmcv.imread(img).shape


def test_demo_person_with_given_boxes(person, tmp_path):
    out = tmp_path / 'person.png'
    proc = run_tool('demo.py', person['img'], person['config'],
                    person['ckpt'], '--device', 'cpu', '--draw-bbox',
                    '--kpt-thr', '0', '--bboxes', *sum(person['boxes'], []),
                    '--out-file', out)
    assert f'{len(person["boxes"])} instance(s) drawn' in proc.stdout
    assert_png_like(out, person['img'])


# Random weights score every keypoint near 0, so the tests draw them with
# --kpt-thr 0; test_demo_cfg_options_and_no_keypoint_message covers the rest.

def test_demo_face_on_whole_image(face, tmp_path):
    out = tmp_path / 'face.png'
    proc = run_tool('demo.py', face['img'], face['config'], face['ckpt'],
                    '--device', 'cpu', '--kpt-thr', '0', '--out-file', out,
                    '--face-detector', 'none')
    assert 'using the whole image as the one box' in proc.stdout
    assert '1 instance(s) drawn' in proc.stdout
    assert re.search(r': [1-9]\d* of 98 keypoints scored at least '
                     r'--kpt-thr 0\.0', proc.stdout), proc.stdout
    assert_png_like(out, face['img'])


def test_demo_with_detector_and_fallback(person, detector, tmp_path):
    # random weights score every keypoint near 0: draw them all
    args = [person['img'], person['config'], person['ckpt'], '--device',
            'cpu', '--kpt-thr', '0', '--det-config', DET_CONFIG,
            '--det-checkpoint', detector]
    # random RPN scores are all near 0.5
    out = tmp_path / 'det.png'
    proc = run_tool('demo.py', *args, '--bbox-thr', '0.3', '--out-file', out)
    assert 'box(es) of class 0 above --bbox-thr 0.3' in proc.stdout
    assert_png_like(out, person['img'])
    # no box passes: the whole image is the box, and the tool says so
    out = tmp_path / 'fallback.png'
    proc = run_tool('demo.py', *args, '--bbox-thr', '0.99', '--out-file',
                    out)
    assert 'using the whole image as the box' in proc.stdout
    assert '1 instance(s) drawn' in proc.stdout
    assert_png_like(out, person['img'])


def test_inferencer_runs_our_configs(person, face, tmp_path):
    from mmpose.apis import MMPoseInferencer
    for model, n_kpt in ((person, 17), (face, 98)):
        inferencer = MMPoseInferencer(
            pose2d=model['config'], pose2d_weights=model['ckpt'],
            device='cpu', det_model='whole_image')
        out_dir = tmp_path / str(n_kpt)
        result = next(inferencer(model['img'], vis_out_dir=str(out_dir)))
        (instance, ) = result['predictions'][0]
        assert len(instance['keypoints']) == n_kpt
        assert_png_like(out_dir / osp.basename(model['img']), model['img'])


def test_mismatched_checkpoint_is_refused(person, face, tmp_path):
    proc = run_tool('demo.py', face['img'], face['config'], person['ckpt'],
                    '--device', 'cpu', '--out-file', tmp_path / 'x.png',
                    check=False)
    line = assert_one_error(proc, 'does not fit the model', person['ckpt'])
    # same tiny backbone; HIH's heatmap and decimal layers are missing, and
    # H3R's final layer is not HIH's
    assert 'missing key(s)' in line and 'unexpected key(s)' in line
    assert 'head.final_layer.weight' in line
    assert not (tmp_path / 'x.png').exists()

    proc = run_tool('test.py', face['config'], person['ckpt'], '--work-dir',
                    tmp_path, '--cfg-options',
                    *data_options(face['root'], 'wflw', splits=('test', )),
                    check=False)
    assert_one_error(proc, 'does not fit the model', 'missing key(s)')


def test_unreadable_image_is_refused(person, tmp_path):
    img = tmp_path / 'broken.png'
    img.write_bytes(b'\x89PNG\r\n\x1a\nnot a png')
    proc = run_tool('demo.py', img, person['config'], person['ckpt'],
                    '--out-file', tmp_path / 'x.png', check=False)
    assert_one_error(proc, 'cannot decode image', str(img))


def demo_module():
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('content,reason', [
    (None, 'image not found'),
    (b'', 'cannot decode image'),
    (b'GIF89a\x10\x00\x10\x00 truncated', 'cannot decode image'),
    # a header declaring 65535 x 65535 pixels: refused before decoding
    (b'GIF89a\xff\xff\xff\xff', 'more than the limit'),
])
def test_read_image_names_the_problem(tmp_path, content, reason):
    from hih_plugin.errors import UserError
    img = tmp_path / 'img.gif'
    if content is not None:
        img.write_bytes(content)
    with pytest.raises(UserError, match=reason):
        demo_module().read_image(str(img))


@pytest.mark.parametrize('coords,reason', [
    ([0, 0, 10], 'four numbers per box'),
    ([10, 10, 5, 20], 'is empty'),
    ([250, 0, 300, 10], 'outside'),
    ([5000, 0, 6000, 10], 'not a box of the 200x100 image'),
])
def test_bad_boxes_are_refused(coords, reason):
    import numpy as np

    from hih_plugin.errors import UserError
    with pytest.raises(UserError, match=reason):
        demo_module().given_boxes(coords, np.zeros((100, 200, 3), np.uint8))


def test_demo_cfg_options_and_no_keypoint_message(tmp_path):
    """A model trained with --cfg-options overrides is drawn from the
    original config plus the same overrides; a --kpt-thr nothing passes
    is reported with the scores, not as instances drawn."""
    import argparse

    from mmengine.config import Config, DictAction
    from tool_options import tiny_overrides
    root = fixture_dir('wflw')
    config = osp.join(ROOT, 'configs', 'hih_wflw.py')
    opts = [o for o in tiny_overrides(root) if o.startswith('model.')]
    cfg = Config.fromfile(config)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(
        parser.parse_args(['--cfg-options', *opts]).cfg_options)
    cfg_file = tmp_path / 'trained.py'
    cfg.dump(str(cfg_file))
    ckpt = save_random_weights(str(cfg_file), tmp_path / 'hih.pth')
    img = annotated_image(root, 'test_wflw.json')[0]

    out = tmp_path / 'refused.png'
    proc = run_tool('demo.py', img, config, ckpt, '--device', 'cpu',
                    '--out-file', out, check=False)
    assert_one_error(proc, 'does not fit the model', 'missing key(s)')

    out = tmp_path / 'face.png'
    # the default --kpt-thr 0.3 is far above a random model's scores
    proc = run_tool('demo.py', img, config, ckpt, '--device', 'cpu',
                    '--out-file', out, '--face-detector', 'none',
                    '--cfg-options', *opts)
    assert 'instance(s) drawn' not in proc.stdout
    assert 'no keypoint scored at least --kpt-thr 0.3' in proc.stderr
    assert 'keypoint scores range from' in proc.stderr
    assert_png_like(out, img)


def test_face_detector_maps_detections_to_landmark_squares():
    from hih_plugin.apis import HaarFaceDetector
    detector = HaarFaceDetector(mapping=(0.5, 0.6, 0.8))
    boxes = detector.landmark_boxes(np.array([[100., 50., 40., 40.]]))
    # centre (100 + 0.5 * 40, 50 + 0.6 * 40), side 0.8 * 40
    np.testing.assert_allclose(boxes, [[104., 58., 136., 90.]])
    # a flat grey image holds no face
    assert len(detector(np.full((300, 400, 3), 128, np.uint8))) == 0


def test_demo_default_model_refuses_a_photo_without_a_face(tmp_path):
    img = tmp_path / 'wall.png'
    cv2.imwrite(str(img), np.full((240, 320, 3), 128, np.uint8))
    proc = run_tool('demo.py', img, '--out-file', tmp_path / 'o.png',
                    check=False)
    assert 'non-commercial research only' in proc.stdout
    assert_one_error(proc, 'no face found in', '--bboxes')
    assert not (tmp_path / 'o.png').exists()


@pytest.mark.parametrize('args,fragment', [
    (['--out-file', '.'], 'is a directory'),
    (['--kpt-thr', 'nan'], '--kpt-thr'),
    (['--radius', '-1'], '--radius'),
    (['--box-passes', '0'], '--box-passes'),
    ([osp.join(ROOT, 'configs', 'hih_wflw.py')], 'or neither'),
])
def test_demo_refuses_bad_arguments_before_any_work(tmp_path, args,
                                                    fragment):
    img = tmp_path / 'wall.png'
    cv2.imwrite(str(img), np.full((64, 64, 3), 128, np.uint8))
    args = [str(tmp_path) if a == '.' else a for a in args]
    proc = run_tool('demo.py', img, *args, check=False)
    assert_one_error(proc, fragment)


@pytest.mark.skipif(not osp.isdir(LFPW_PHOTOS),
                    reason='the real LFPW photographs are not beside the '
                    'checkout')
def test_demo_default_model_draws_68_landmarks_on_a_real_face(tmp_path):
    out = tmp_path / 'face.png'
    proc = run_tool('demo.py', osp.join(LFPW_PHOTOS, 'image_0002.jpg'),
                    '--out-file', out)
    assert 'face detector: 1 face(s)' in proc.stdout
    assert ': 68 of 68 keypoints' in proc.stdout
    assert cv2.imread(str(out)).shape == (450, 300, 3)
