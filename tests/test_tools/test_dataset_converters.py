"""The dataset converters of tools/dataset_converters/: 300-W style folders
to Face300WDataset's JSON (the pixel and box conventions, and one line for
each kind of bad input), and cutting a face dataset down to its faces."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from conftest import LFPW_PHOTOS, ROOT, assert_one_error, run_tool
from fixture_data import write_300w_folder

pytest.importorskip('mmpose')

CONVERT = 'dataset_converters/face300w_to_coco.py'
CROP = 'dataset_converters/crop_faces.py'
SPLITS = osp.join(ROOT, 'tools', 'dataset_converters', 'splits')


def read_pts(path):
    text = open(path).read()
    body = text[text.index('{') + 1:text.index('}')]
    return np.array([line.split() for line in body.split('\n')
                     if line.strip()], float)


def load_300w(ann_file, root):
    from mmpose.datasets import Face300WDataset
    return Face300WDataset(ann_file=str(ann_file), data_root=str(root),
                           data_prefix=dict(img=''), test_mode=True,
                           pipeline=[])


def test_300w_folder_converts_with_0_based_points_and_landmark_boxes(
        tmp_path):
    rng = np.random.default_rng(0)
    write_300w_folder(tmp_path / 'faces', ['b', 'a'], rng)
    write_300w_folder(tmp_path / 'faces' / 'sub', ['c'], rng)
    run_tool(CONVERT, tmp_path / 'faces', tmp_path / 'all.json')
    data = json.load(open(tmp_path / 'all.json'))
    # every pair, in name order, paths relative to the folder
    assert [i['file_name'] for i in data['images']] == [
        'a.jpg', 'b.jpg', osp.join('sub', 'c.jpg')]
    assert data['images'][0]['width'] == 160
    for img, ann in zip(data['images'], data['annotations']):
        pts = read_pts(tmp_path / 'faces' / (img['file_name'][:-4] + '.pts'))
        kpts = np.array(ann['keypoints']).reshape(-1, 3)
        # .pts counts pixels from 1, MMPose from 0
        np.testing.assert_allclose(kpts[:, :2], pts - 1, atol=1e-4)
        lo, hi = kpts[:, :2].min(0), kpts[:, :2].max(0)
        np.testing.assert_allclose(ann['bbox'], [*lo, *(hi - lo)], atol=1e-3)
        np.testing.assert_allclose(ann['center'], (lo + hi) / 2, atol=1e-3)
        assert ann['scale'] == pytest.approx((hi - lo).max() / 200, abs=1e-5)
    ds = load_300w(tmp_path / 'all.json', tmp_path / 'faces')
    info = ds.get_data_info(2)
    assert len(ds) == 3 and info['img_path'].endswith('sub/c.jpg')
    # the dataset's box: the landmarks' longer side, square, around them
    x1, y1, x2, y2 = info['bbox'][0]
    assert x2 - x1 == pytest.approx(
        200 * data['annotations'][2]['scale'], rel=1e-4)

    # --list keeps what it names, in its order
    (tmp_path / 'list.txt').write_text('sub/c\n\nb\n')
    run_tool(CONVERT, tmp_path / 'faces', tmp_path / 'some.json', '--list',
             tmp_path / 'list.txt')
    some = json.load(open(tmp_path / 'some.json'))
    assert [i['file_name'] for i in some['images']] == [
        osp.join('sub', 'c.jpg'), 'b.jpg']


def damage(folder, how):
    pts = folder / 'a.pts'
    text = pts.read_text()
    if how == 'points':
        pts.write_text(text.replace('\n}', '\n1 1\n}').replace(
            'n_points: 68', 'n_points: 69'))
    elif how == 'header':
        pts.write_text(text.replace('n_points: 68', 'n_points: 70'))
    elif how == 'braces':
        pts.write_text(text.replace('{', ''))
    elif how == 'number':
        lines = text.split('\n')
        lines[5] = '12.5 twelve'
        pts.write_text('\n'.join(lines))
    elif how == 'nan':
        lines = text.split('\n')
        lines[5] = 'nan 3'
        pts.write_text('\n'.join(lines))
    elif how == 'no image':
        (folder / 'a.jpg').unlink()
    elif how == 'unreadable':
        (folder / 'a.jpg').write_bytes(b'not an image at all')
    elif how == 'two images':
        (folder / 'a.png').write_bytes((folder / 'a.jpg').read_bytes())


@pytest.mark.parametrize('how,fragment', [
    ('points', 'holds 69 points, not 68'),
    ('header', 'declares n_points 70 but holds 68'),
    ('braces', 'is damaged: no {'),
    ('number', "is damaged: point 3 is '12.5 twelve'"),
    ('nan', 'not finite'),
    ('no image', 'has no image beside it'),
    ('unreadable', 'cannot read the image'),
    ('two images', 'two images named a'),
])
def test_300w_converter_refuses_bad_input_in_one_line(tmp_path, how,
                                                      fragment):
    write_300w_folder(tmp_path / 'faces', ['a', 'b'], np.random.default_rng(1),
                      size=64)
    damage(tmp_path / 'faces', how)
    proc = run_tool(CONVERT, tmp_path / 'faces', tmp_path / 'out.json',
                    check=False)
    assert_one_error(proc, fragment)
    assert not (tmp_path / 'out.json').exists()


def test_300w_converter_refuses_bad_lists_and_places(tmp_path):
    write_300w_folder(tmp_path / 'faces', ['a'], np.random.default_rng(2),
                      size=64)
    (tmp_path / 'twice.txt').write_text('a\na\n')
    (tmp_path / 'missing.txt').write_text('a\nz\n')
    (tmp_path / 'empty').mkdir()
    for args, fragment in (
            (['faces', 'o.json', '--list', 'twice.txt'], 'lists a twice'),
            (['faces', 'o.json', '--list', 'missing.txt'], 'lists z'),
            (['empty', 'o.json'], 'holds no .pts file'),
            (['nowhere', 'o.json'], 'folder not found'),
            (['faces', 'faces'], 'is a directory'),
            (['faces', 'o.json', '--num-points', 'nan'], '--num-points')):
        proc = run_tool(CONVERT, *[tmp_path / a if not a.startswith('-')
                                   and a != 'nan' else a for a in args],
                        check=False)
        assert_one_error(proc, fragment)
    assert not (tmp_path / 'o.json').exists()


@pytest.mark.skipif(not osp.isdir(LFPW_PHOTOS),
                    reason='the real LFPW photographs are not beside the '
                    'checkout')
def test_300w_converter_reads_the_real_lfpw_validation_split(tmp_path):
    run_tool(CONVERT, LFPW_PHOTOS, tmp_path / 'val.json', '--list',
             osp.join(SPLITS, 'lfpw_68_val.txt'))
    ds = load_300w(tmp_path / 'val.json', LFPW_PHOTOS)
    assert len(ds) == 160
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        k = info['keypoints'][0]
        x1, y1, x2, y2 = info['bbox'][0]
        assert (k >= [x1 - 1e-3, y1 - 1e-3]).all()
        assert (k <= [x2 + 1e-3, y2 + 1e-3]).all()
    data = json.load(open(tmp_path / 'val.json'))
    for img, ann in zip(data['images'], data['annotations']):
        k = np.array(ann['keypoints']).reshape(-1, 3)[:, :2]
        assert (k > -1).all() and (k < [img['width'], img['height']]).all()


def test_crop_faces_maps_landmarks_onto_the_cut_out(tmp_path):
    """A large photo (so the cut-out halves it with pyrDown first) with a
    bright dot at a landmark: the dot lands where the mapped landmark is."""
    img = np.full((1200, 1500, 3), 40, np.uint8)
    dot = np.array([731.3, 402.6])
    cv2.circle(img, (int(round(dot[0])), int(round(dot[1]))), 9,
               (255, 255, 255), -1)
    cv2.imwrite(str(tmp_path / 'big.png'), img)
    kpts = np.array([dot, [650, 380], [820, 560]])
    lo, hi = kpts.min(0), kpts.max(0)
    ann = dict(id=7, image_id=1, category_id=1, iscrowd=0, num_keypoints=3,
               keypoints=np.concatenate([kpts, np.ones((3, 1))], 1).ravel()
               .tolist(), bbox=[*lo, *(hi - lo)], area=float(np.prod(hi - lo)),
               center=((lo + hi) / 2).tolist(), scale=float((hi - lo).max())
               / 200)
    (tmp_path / 'faces.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='big.png', width=1500, height=1200)],
        annotations=[ann], categories=[])))
    run_tool(CROP, tmp_path / 'faces.json', tmp_path, tmp_path / 'out',
             '--size', 128, '--span', 2.5)
    out = json.load(open(tmp_path / 'out' / 'faces.json'))
    new = out['annotations'][0]
    crop = cv2.imread(str(tmp_path / 'out' / 'images' /
                          out['images'][0]['file_name']))
    assert crop.shape == (128, 128, 3)
    k = np.array(new['keypoints']).reshape(-1, 3)[:, :2]
    unit = 128 / (2.5 * (hi - lo).max())
    # a similarity transform: distances scale by one factor
    assert np.linalg.norm(k[1] - k[2]) == pytest.approx(
        unit * np.linalg.norm(kpts[1] - kpts[2]), rel=1e-4)
    assert new['scale'] == pytest.approx(ann['scale'] * unit, rel=1e-4)
    np.testing.assert_allclose(new['center'], [63.5, 63.5], atol=1e-3)
    ys, xs = np.nonzero(crop[..., 0] > 150)
    np.testing.assert_allclose([xs.mean(), ys.mean()], k[0], atol=0.3)


def write_wflw_list(root, rng, faces=3):
    """WFLW's images folder and list: drawn faces, one line each, the
    second face in the first image again, with attributes by face."""
    from hih_plugin.testing import draw_face
    (root / 'imgs' / 'sub').mkdir(parents=True)
    lines = []
    for n in range(faces):
        img, kpts = draw_face(96, rng)
        name = f'sub/face_{min(n, 1)}.jpg'
        cv2.imwrite(str(root / 'imgs' / name), img)
        attrs = [int(n == i) for i in range(6)]
        lines.append(' '.join([f'{v:.3f}' for v in kpts.ravel()] +
                              ['1', '2', '90', '91'] + [str(a) for a in attrs]
                              + [name]))
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')
    return lines


def test_wflw_list_converts_with_faces_and_attribute_subsets(tmp_path):
    lines = write_wflw_list(tmp_path, np.random.default_rng(3))
    out = tmp_path / 'ann' / 'wflw_test.json'
    run_tool('dataset_converters/wflw_to_coco.py', tmp_path / 'list.txt',
             tmp_path / 'imgs', out, '--subsets')
    data = json.load(open(out))
    # faces 1 and 2 share an image
    assert [i['file_name'] for i in data['images']] == [
        'sub/face_0.jpg', 'sub/face_1.jpg']
    assert [a['image_id'] for a in data['annotations']] == [1, 2, 2]
    first = np.array(lines[0].split()[:196], float).reshape(98, 2)
    kpts = np.array(data['annotations'][0]['keypoints']).reshape(98, 3)
    # WFLW counts pixels from 0, as MMPose does: kept as they are
    np.testing.assert_allclose(kpts[:, :2], first, atol=1e-3)
    # face n has attribute n only: the pose subset holds face 1, the
    # expression subset face 2 (and its image only)
    pose = json.load(open(tmp_path / 'ann' / 'wflw_test_largepose.json'))
    expr = json.load(open(tmp_path / 'ann' / 'wflw_test_expression.json'))
    assert [a['id'] for a in pose['annotations']] == [1]
    assert [a['id'] for a in expr['annotations']] == [2]
    assert [i['id'] for i in expr['images']] == [2]
    assert json.load(open(tmp_path / 'ann' / 'wflw_test_blur.json'))[
        'annotations'] == []
    from mmpose.datasets import WFLWDataset
    ds = WFLWDataset(ann_file=str(out), data_root=str(tmp_path / 'imgs'),
                     data_prefix=dict(img=''), test_mode=True, pipeline=[])
    assert len(ds) == 3


@pytest.mark.parametrize('edit,fragment', [
    (lambda ls: [ls[0].rsplit(' ', 2)[0] + ' x.jpg'] + ls[1:],
     'has 206 fields, not 207'),
    (lambda ls: [ls[0].replace(ls[0].split()[3], 'nan', 1)] + ls[1:],
     'not finite'),
    (lambda ls: [ls[0].replace(' 1 0 0 0 0 0 ', ' 2 0 0 0 0 0 ')] + ls[1:],
     'must be 0 or 1'),
    (lambda ls: [ls[0].replace('face_0.jpg', 'gone.jpg')] + ls[1:],
     'gone.jpg'),
    (lambda ls: ls + ls[:1], 'line 4 repeats line 1'),
])
def test_wflw_converter_refuses_bad_lines_in_one_line(tmp_path, edit,
                                                      fragment):
    lines = write_wflw_list(tmp_path, np.random.default_rng(4))
    (tmp_path / 'list.txt').write_text('\n'.join(edit(lines)) + '\n')
    proc = run_tool('dataset_converters/wflw_to_coco.py',
                    tmp_path / 'list.txt', tmp_path / 'imgs',
                    tmp_path / 'o.json', check=False)
    assert_one_error(proc, fragment)
    assert not (tmp_path / 'o.json').exists()
