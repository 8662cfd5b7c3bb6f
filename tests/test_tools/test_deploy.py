"""tools/deploy/export_onnx.py and the .onnx demo: export, check against
PyTorch and load round trips for our heads (tiny widths through
--cfg-options, random weights), dynamic batch, and the demo's refusal of
tampered or mismatched files."""
import argparse
import json
import os.path as osp
import re

import numpy as np
import pytest
from conftest import ROOT, fixture_dir
from ecosystem_utils import H3R_MIX, HIH_MIX, NO_DOWNLOAD, data_options
from tool_options import TINY_HRNET, run_each

for _module in ('onnx', 'onnxruntime'):
    pytest.importorskip(
        _module, reason=f'{_module} is not installed: pip install -e '
        '.[deploy] (make install installs it)')


HIH_TINY = ['model.backbone.num_stacks=1', 'model.backbone.feat_channels=16',
            'model.backbone.depth=2', 'model.head.in_channels=16',
            'model.head.decimal_channels=16']
HRNET_TINY = [f'{k}={v}'.replace(' ', '') for k, v in TINY_HRNET.items()
              if k != 'model.head.conv_out_channels']
# An untrained BCE integer map sits flat at its 1/(H*W) prior on random
# crops: float differences between torch and onnxruntime then flip the
# argmax. A softmax map keeps its logits' full precision; the BCE graph is
# checked on trained-like maps in test_hih_head.py.
SOFTMAX_MAP = ["model.head.loss.mode='softmax'"]
RESNET_TINY = ['model.backbone.depth=18', 'model.head.in_channels=512',
               'model.head.deconv_out_channels=(16,16,16)']
STOCK_CFG = osp.join(ROOT, 'tests', 'configs', 'tiny_hrnetv2_wflw.py')


def config(name):
    return osp.join(ROOT, 'configs', f'{name}.py')


# name: (config, fixture, tiny overrides); each is exported with --verify
CASES = {
    'hih_wflw': (config('hih_wflw'), 'wflw', HIH_TINY),
    'hih-local_wflw': (config('hih-local_wflw'), 'wflw',
                       HIH_TINY + SOFTMAX_MAP),
    'hih-argmax': (config('hih-local_wflw'), 'wflw', HIH_TINY + SOFTMAX_MAP + [
        "model.head.decoder.decode_mode='argmax'",
        'model.head.neighbour_votes=False']),
    'h3r_wflw': (config('h3r_wflw'), 'wflw', HRNET_TINY + [
        'model.head.conv_out_channels=(60,)']),
    'mix-hih': (HIH_MIX, 'wflw', HRNET_TINY + SOFTMAX_MAP + [
        NO_DOWNLOAD, 'model.head.decimal_channels=16']),
    'mix-h3r': (H3R_MIX, 'coco', RESNET_TINY + [NO_DOWNLOAD]),
    'stock-msra': (STOCK_CFG, 'wflw', []),
}


def options(name):
    path, fixture, tiny = CASES[name]
    root = fixture_dir(fixture)
    return tiny + data_options(root, fixture, splits=('test', ),
                               batch_size=2)


def build_model(name):
    """The tiny model of a case, with the weights of its checkpoint."""
    from mmengine.config import Config, DictAction
    from mmpose.apis import init_model
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(CASES[name][0])
    cfg.merge_from_dict(parser.parse_args(
        ['--cfg-options', *options(name)]).cfg_options)
    return init_model(cfg, None, device='cpu')


def export_args(name, ckpt, out, *extra):
    return [CASES[name][0], str(ckpt), '--out', str(out), '--verify',
            *extra, '--cfg-options', *options(name)]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Every case exported with --verify in one forked run, plus a dynamic
    batch, another input size and refusals."""
    import torch
    tmp = tmp_path_factory.mktemp('deploy')
    ckpts = {}
    for name in CASES:
        torch.manual_seed(0)
        model = build_model(name)
        model.init_weights()
        ckpts[name] = tmp / f'{name}.pth'
        torch.save({'state_dict': model.state_dict()}, ckpts[name])
    runs = {name: export_args(name, ckpts[name], tmp / f'{name}.onnx',
                              '--batch', '2') for name in CASES}
    runs['dynamic'] = export_args('hih-local_wflw', ckpts['hih-local_wflw'],
                                  tmp / 'dynamic.onnx', '--dynamic-batch')
    runs['size128'] = export_args('hih-local_wflw', ckpts['hih-local_wflw'],
                                  tmp / 'size128.onnx', '--input-size', '128',
                                  '128')
    # H3R's soft-argmax differs from PyTorch's by float rounding (about
    # 1e-5 px): a zero tolerance must refuse it
    runs['zero-tol'] = export_args('h3r_wflw', ckpts['h3r_wflw'],
                                   tmp / 'zero-tol.onnx', '--tol', '0')
    runs['dark'] = export_args('stock-msra', ckpts['stock-msra'],
                               tmp / 'dark.onnx') + [
                                   'model.head.decoder.unbiased=True']
    names = list(runs)
    results = run_each([('deploy/export_onnx.py', runs[n]) for n in names])
    return tmp, ckpts, dict(zip(names, results))


def one_error_line(result, *fragments):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines()
             if ln.startswith('error:')]
    assert len(lines) == 1, result.stderr[-3000:]
    for frag in fragments:
        assert frag in lines[0], lines[0]
    assert 'Traceback' not in result.stderr
    return lines[0]


def reported(stdout, name):
    """(crops, px, score) of a tool's line ``<name>: N crops, ...``."""
    match = re.search(
        rf'^{name}: (\d+) crops, largest keypoint difference (\S+) input '
        r'px, largest score difference (\S+)$', stdout, re.M)
    assert match, stdout[-3000:]
    return int(match[1]), float(match[2]), float(match[3])


@pytest.mark.parametrize('name', list(CASES))
def test_export_verify_and_load(exported, name):
    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    tmp, _, results = exported
    result = results[name]
    assert result.returncode == 0, result.stderr[-3000:]
    crops, px, score = reported(result.stdout, 'test crops')
    assert crops >= 2  # every fixture crop (4 faces, 12 people)
    assert px <= 1e-3 and score <= 1e-3
    assert reported(result.stdout, 'random crops')[0] == 2

    onnx_model = OnnxPoseModel(str(tmp / f'{name}.onnx'))
    model = build_model(name)
    assert onnx_model.metadata['config'] == osp.basename(CASES[name][0])
    assert onnx_model.input_size == tuple(model.head.decoder.input_size)
    assert onnx_model.batch_size == 2
    assert onnx_model.dataset_meta['num_keypoints'] == \
        model.head.out_channels


def torch_crop_predictions(name, ckpt, inputs):
    """PyTorch's head.predict on crops, in crop pixels (flip test off)."""
    import torch

    from hih_plugin.cli.model_check import load_checkpoint_strict
    model = build_model(name)
    load_checkpoint_strict(model, str(ckpt))
    model.eval()
    with torch.no_grad():
        preds = model.head.predict(model.extract_feat(torch.from_numpy(
            inputs)), None, test_cfg=dict(flip_test=False))
    return np.concatenate([p.keypoints for p in preds])


def test_dynamic_batch_same_keypoints_at_1_and_5(exported):
    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    tmp, ckpts, results = exported
    assert results['dynamic'].returncode == 0, \
        results['dynamic'].stderr[-3000:]
    onnx_model = OnnxPoseModel(str(tmp / 'dynamic.onnx'))
    assert onnx_model.batch_size is None
    inputs = np.random.default_rng(0).normal(
        size=(5, 3, 256, 256)).astype(np.float32)
    (in_5, _), = [onnx_model.session.run(['keypoints', 'scores'],
                                         {'input': inputs})]
    in_1 = np.concatenate([
        onnx_model.session.run(['keypoints'], {'input': x[None]})[0]
        for x in inputs])
    assert in_5.shape == (5, 98, 2)
    np.testing.assert_allclose(in_5, in_1, rtol=0, atol=1e-3)
    ref = torch_crop_predictions('hih-local_wflw', ckpts['hih-local_wflw'],
                                 inputs)
    np.testing.assert_allclose(in_5, ref, rtol=0, atol=1e-3)


def test_other_input_size(exported):
    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    tmp, _, results = exported
    assert results['size128'].returncode == 0, \
        results['size128'].stderr[-3000:]
    assert reported(results['size128'].stdout, 'test crops')[1] <= 1e-3
    assert OnnxPoseModel(str(tmp / 'size128.onnx')).input_size == (128, 128)


def test_refusals_write_nothing(exported):
    tmp, _, results = exported
    one_error_line(results['zero-tol'], 'differs from PyTorch',
                   '--tol 0', 'was not written')
    one_error_line(results['dark'], 'cannot put the decoding of HeatmapHead',
                   'unbiased=True')
    for name in ('zero-tol', 'dark'):
        assert not (tmp / f'{name}.onnx').exists()
        assert not (tmp / f'{name}.onnx.part').exists()


def tampered_files(tmp):
    """Copies of the WFLW export, each broken in one way, with the demo's
    expected refusal."""
    import onnx

    from hih_plugin.deploy.onnx_model import PREFIX, sign
    good = onnx.load(str(tmp / 'hih-local_wflw.onnx'))
    meta = {p.key[len(PREFIX):]: p.value for p in good.metadata_props}
    meta = {k: v for k, v in meta.items() if k not in ('format', 'sha256')}
    coco = onnx.load(str(tmp / 'mix-h3r.onnx'))
    coco_info = next(p.value for p in coco.metadata_props
                     if p.key == PREFIX + 'dataset_info')
    small = onnx.load(str(tmp / 'size128.onnx'))
    cases = {}

    def save(name, proto, *fragments):
        path = tmp / f'tampered-{name}.onnx'
        onnx.save(proto, str(path))
        cases[name] = (path, fragments)

    edited = onnx.ModelProto.FromString(good.SerializeToString())
    next(p for p in edited.metadata_props
         if p.key == PREFIX + 'config').value = 'other.py'
    save('metadata', edited, 'changed after export', 'SHA-256')
    weights = onnx.ModelProto.FromString(good.SerializeToString())
    init = next(t for t in weights.graph.initializer if t.raw_data)
    init.raw_data = bytes(len(init.raw_data))
    save('weights', weights, 'changed after export')
    sign(small, meta)  # 128x128 graph, 256x256 metadata
    save('input-size', small, 'takes input', 'says 256x256 crops')
    other = onnx.ModelProto.FromString(good.SerializeToString())
    sign(other, dict(meta, dataset_info=coco_info))
    save('dataset', other, 'outputs 98 keypoints', 'coco with 17')
    foreign = onnx.ModelProto.FromString(good.SerializeToString())
    del foreign.metadata_props[:]
    save('foreign', foreign, 'carries no hih-plugin metadata')
    (tmp / 'tampered-bytes.onnx').write_bytes(b'\x08\x07not a model' * 9)
    cases['bytes'] = (tmp / 'tampered-bytes.onnx', ('is not an ONNX model',))
    return cases


def two_people(root):
    """An image of the COCO sample (real or generated) with at least two
    people, and their boxes as demo.py's ``--bboxes`` x1 y1 x2 y2 ..."""
    with open(osp.join(root, 'test_coco.json')) as f:
        ann = json.load(f)
    boxes = {}
    for a in ann['annotations']:
        x, y, w, h = a['bbox']
        boxes.setdefault(a['image_id'], []).extend(
            str(round(v)) for v in (x, y, x + w, y + h))
    img = next(i for i in ann['images'] if len(boxes.get(i['id'], ())) >= 8)
    return osp.join(root, img['file_name']), boxes[img['id']][:8]


def test_demo_runs_exports_and_refuses_tampered(exported):
    tmp, _, results = exported
    assert results['hih-local_wflw'].returncode == 0
    assert results['mix-h3r'].returncode == 0
    # the real sample's or the generated one's first image
    with open(osp.join(fixture_dir('wflw'), 'test_wflw.json')) as f:
        face = osp.join(fixture_dir('wflw'),
                        json.load(f)['images'][0]['file_name'])
    person, person_boxes = two_people(fixture_dir('coco'))
    cases = tampered_files(tmp)
    spec = [['demo.py', [face, str(tmp / 'hih-local_wflw.onnx'),
                         '--kpt-thr', '0', '--out-file',
                         str(tmp / 'face.png')]],
            ['demo.py', [person, str(tmp / 'mix-h3r.onnx'), '--kpt-thr',
                         '0', '--bboxes', *person_boxes, '--out-file',
                         str(tmp / 'person.png')]]]
    spec += [['demo.py', [face, str(path), '--out-file',
                          str(tmp / f'{name}.png')]]
             for name, (path, _) in cases.items()]
    face_run, person_run, *refused = run_each(spec)

    import mmcv
    for run, img, out, n in ((face_run, face, 'face.png', 1),
                             (person_run, person, 'person.png', 2)):
        assert run.returncode == 0, run.stderr[-3000:]
        assert f'{n} instance(s) drawn' in run.stdout
        assert mmcv.imread(str(tmp / out)).shape == mmcv.imread(img).shape
    assert 'hih-local_wflw.py' in face_run.stdout
    for (name, (path, fragments)), run in zip(cases.items(), refused):
        one_error_line(run, str(path), *fragments)
        assert not (tmp / f'{name}.png').exists()
