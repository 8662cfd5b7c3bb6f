"""tools/deploy/export_onnx.py and the .onnx demo: export, check against
PyTorch and load round trips for our heads (tiny widths through
--cfg-options, random weights), dynamic batch, and the demo's refusal of
tampered or mismatched files."""
import argparse
import json
import os
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
    # an all-NaN model verifies nothing; bad arguments cost nothing
    nan = torch.load(ckpts['h3r_wflw'])
    nan['state_dict'] = {k: v.float().fill_(float('nan'))
                         if v.is_floating_point() else v
                         for k, v in nan['state_dict'].items()}
    torch.save(nan, tmp / 'nan.pth')
    runs['nan'] = export_args('h3r_wflw', tmp / 'nan.pth', tmp / 'nan.onnx')
    (tmp / 'folder.onnx').mkdir()
    runs['out-dir'] = export_args('h3r_wflw', ckpts['h3r_wflw'],
                                  tmp / 'folder.onnx')
    for flag, value in (('--tol', 'nan'), ('--tol', '-1'),
                        ('--score-tol', 'inf'), ('--batch', '0'),
                        ('--verify-samples', '0')):
        runs[f'{flag}={value}'] = export_args(
            'h3r_wflw', ckpts['h3r_wflw'], tmp / 'bad.onnx', flag, value)
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

    from hih_plugin.cli.checks.model import load_checkpoint_strict
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
    one_error_line(results['zero-tol'], "(b) the graph's decoding differs "
                   "from the codec's on the same maps", '--tol 0',
                   'was not written')
    one_error_line(results['dark'], 'cannot put the decoding of HeatmapHead',
                   'unbiased=True')
    one_error_line(results['nan'], 'not finite', 'nothing to verify')
    one_error_line(results['out-dir'], 'is a directory')
    for name in ('zero-tol', 'dark', 'nan', 'bad'):
        assert not (tmp / f'{name}.onnx').exists()
    assert not [f for f in os.listdir(tmp) if f.startswith('.hih-')]


@pytest.mark.parametrize('flag, value', [
    ('--tol', 'nan'), ('--tol', '-1'), ('--score-tol', 'inf'),
    ('--batch', '0'), ('--verify-samples', '0')])
def test_numeric_arguments_out_of_range_are_refused_first(exported, flag,
                                                          value):
    _, _, results = exported
    result = results[f'{flag}={value}']
    one_error_line(result, flag)
    assert result.cpu_s < 20  # before the model is built


def test_near_tied_maps_are_found():
    import torch

    from hih_plugin.deploy.export import near_tied
    maps = torch.zeros(1, 3, 4, 4)
    maps[0, 0, 1, 1] = 1.  # a clear peak
    maps[0, 1, 1, 1], maps[0, 1, 2, 2] = 1., 1. - 1e-6  # two near-equal
    maps[0, 2] = 1.  # flat
    assert near_tied((maps, ), 1).tolist() == [[False, True, True]]
    # top-2: the 2nd and 3rd largest decide; keypoint 1's are 1-1e-6 and 0
    assert near_tied((maps, ), 2).tolist() == [[True, False, True]]


def test_onnx_inference_equals_pytorch_on_image_boxes(exported):
    """The reader's own crop, normalisation and affine back to the
    image give PyTorch's inference_topdown keypoints."""
    import mmcv
    from mmpose.apis import inference_topdown

    from hih_plugin.cli.checks.model import load_checkpoint_strict
    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    tmp, ckpts, _ = exported
    person, boxes = two_people(fixture_dir('coco'))
    img = mmcv.imread(person)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    model = build_model('mix-h3r')
    load_checkpoint_strict(model, str(ckpts['mix-h3r']))
    model.eval()
    model.test_cfg['flip_test'] = False  # the graph has no flip test
    ref = inference_topdown(model, img, boxes)
    ours = OnnxPoseModel(str(tmp / 'mix-h3r.onnx')).inference(img, boxes)
    for r, o in zip(ref, ours):
        np.testing.assert_array_equal(o.metainfo['input_center'],
                                      r.metainfo['input_center'])
        np.testing.assert_array_equal(o.metainfo['input_scale'],
                                      r.metainfo['input_scale'])
        px = (np.abs(o.pred_instances.keypoints - r.pred_instances.keypoints)
              / r.metainfo['input_scale'] * r.metainfo['input_size'])
        assert px.max() <= 1e-3


def resigned(proto, entries):
    """A copy of ``proto`` whose metadata entries (without prefix) are
    ``entries`` with a matching integrity digest: what anyone can write."""
    import onnx

    from hih_plugin.deploy.metadata import PREFIX, digest
    out = onnx.ModelProto.FromString(proto.SerializeToString())
    del out.metadata_props[:]
    entries = dict(entries)
    entries['sha256'] = digest(out.graph.SerializeToString(), entries)
    for key, value in entries.items():
        prop = out.metadata_props.add()
        prop.key, prop.value = PREFIX + key, value
    return out


def tampered_files(tmp):
    """Copies of the WFLW export, each broken in one way, with the demo's
    expected refusal."""
    import onnx

    from hih_plugin.deploy.metadata import PREFIX, sign
    good = onnx.load(str(tmp / 'hih-local_wflw.onnx'))
    meta = json.loads(next(p.value for p in good.metadata_props
                           if p.key == PREFIX + 'metadata'))
    coco = onnx.load(str(tmp / 'mix-h3r.onnx'))
    coco_meta = json.loads(next(p.value for p in coco.metadata_props
                                if p.key == PREFIX + 'metadata'))
    small = onnx.load(str(tmp / 'size128.onnx'))
    cases = {}

    def save(name, proto, *fragments):
        path = tmp / f'tampered-{name}.onnx'
        onnx.save(proto, str(path))
        cases[name] = (path, fragments)

    edited = onnx.ModelProto.FromString(good.SerializeToString())
    next(p for p in edited.metadata_props
         if p.key == PREFIX + 'metadata').value = json.dumps(
             dict(meta, config='other.py'))
    save('metadata', edited, 'is damaged', 'SHA-256', 'not deliberate')
    weights = onnx.ModelProto.FromString(good.SerializeToString())
    init = next(t for t in weights.graph.initializer if t.raw_data)
    init.raw_data = bytes(len(init.raw_data))
    save('weights', weights, 'is damaged')
    sign(small, meta)  # 128x128 graph, 256x256 metadata
    save('input-size', small, 'takes input', 'says 256x256 crops')
    other = onnx.ModelProto.FromString(good.SerializeToString())
    keypoints = ('dataset_name', 'keypoint_names', 'flip_indices',
                 'skeleton_links', 'keypoint_colors', 'link_colors', 'sigmas')
    sign(other, dict(meta, **{k: coco_meta[k] for k in keypoints}))
    save('dataset', other, 'outputs keypoints', 'coco with 17')
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


# ------------------------------------------- model files are data, not code
EVIL_PY = 'open({marker!r}, "w").write("ran")\n'


def payload(marker):
    """A registry entry that MMEngine builds by calling os.system."""
    return {'type': 'os.system', 'command': f'touch {marker}'}


def test_payloads_are_live(tmp_path):
    """The payloads below do run when a registry or MMPose's metainfo
    parser gets them: the old reader passed metadata to both."""
    from mmengine.registry import init_default_scope
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    marker = tmp_path / 'ran'
    MODELS.build(payload(marker))
    assert marker.exists()
    marker.unlink()
    evil = tmp_path / 'evil.py'
    evil.write_text(EVIL_PY.format(marker=str(marker)))
    with pytest.raises(AttributeError):  # after the file ran
        parse_pose_metainfo(dict(from_file=str(evil)))
    assert marker.exists()


def crafted_files(tmp, marker):
    """{name: (path, fragments of the one error line)}: the WFLW export
    with code where its metadata has plain values, values outside the
    schema, the old format, and paths that are no regular file; each in a
    folder of its own."""
    import onnx

    from hih_plugin.deploy.metadata import FORMAT, PREFIX, SCHEMA
    good = onnx.load(str(tmp / 'hih-local_wflw.onnx'))
    text = next(p.value for p in good.metadata_props
                if p.key == PREFIX + 'metadata')
    meta = json.loads(text)
    evil = tmp / 'evil.py'
    evil.write_text(EVIL_PY.format(marker=str(marker)))
    code = payload(marker)
    cases = {}

    def folder(name):
        path = tmp / 'crafted' / name
        path.mkdir(parents=True)
        return path

    def save(name, entries, *fragments):
        path = folder(name) / 'model.onnx'
        onnx.save(resigned(good, entries), str(path))
        cases[name] = (path, fragments)

    def as_text(value):
        return dict(format=FORMAT, metadata=value)

    for key in SCHEMA:  # code in place of each plain value
        save(f'code-{key}', as_text(json.dumps(dict(meta, **{key: code}))),
             f'metadata {key} is not')
    save('code-in-list', as_text(json.dumps(dict(meta, keypoint_names=[
        code] * len(meta['keypoint_names'])))), 'keypoint_names entry 0')
    for key, value in (('pipeline', [code]), ('data_preprocessor', code),
                       ('visualizer', code),
                       ('dataset_info', {'from_file': str(evil)})):
        save(f'unknown-{key}', as_text(json.dumps(dict(meta, **{key: value}))),
             f"metadata key '{key}' is not one")
    save('unknown-prop', dict(as_text(text), pipeline=json.dumps([code])),
         "metadata key 'hih_plugin.pipeline' is not one")
    save('old-format', dict(
        format='hih-plugin-onnx/1', config='x.py', decoding='x',
        input_size='[256, 256]', pipeline=json.dumps([code]),
        data_preprocessor=json.dumps(code), visualizer=json.dumps(code),
        dataset_info=json.dumps({'from_file': str(evil)})),
        "metadata format 'hih-plugin-onnx/1'", 're-export')
    save('huge', as_text(json.dumps(dict(meta, keypoint_names=['k'] * 10**6))),
         'characters, more than')
    save('long-list', as_text(json.dumps(dict(
        meta, skeleton_links=[[0, 1]] * 5000))),
        'skeleton_links is not a list')
    save('long-name', as_text(json.dumps(dict(
        meta, dataset_name='x' * 10**4))), 'dataset_name is not a text')
    save('deep', as_text(text[:-1] + ', "x": ' + '[' * 10**5 + ']' * 10**5 +
                         '}'), 'levels deep, more than')
    save('nan', as_text(text.replace('"padding": 1.25', '"padding": NaN')),
         'NaN is not a number')
    save('inf', as_text(text.replace('"padding": 1.25', '"padding": 1e999')),
         'padding is not a finite number')
    save('not-json', as_text(text[:100]), 'is not valid JSON')
    save('index', as_text(json.dumps(dict(meta, skeleton_links=[[0, 500]]))),
         'skeleton_links holds an index past the 98')
    fifo = folder('fifo') / 'model.onnx'
    os.mkfifo(fifo)
    cases['fifo'] = (fifo, ('not a regular file', ))
    (folder('dir') / 'model.onnx').mkdir()
    cases['dir'] = (tmp / 'crafted' / 'dir' / 'model.onnx', ('is a folder', ))
    zero = folder('zero') / 'model.onnx'
    zero.symlink_to('/dev/zero')
    cases['zero'] = (zero, ('not a regular file', ))
    return cases


def test_demo_refuses_code_and_oversize_in_model_files(exported):
    tmp, _, _ = exported
    marker = tmp / 'crafted-ran'
    cases = crafted_files(tmp, marker)
    with open(osp.join(fixture_dir('wflw'), 'test_wflw.json')) as f:
        face = osp.join(fixture_dir('wflw'),
                        json.load(f)['images'][0]['file_name'])
    runs = run_each([('demo.py', [face, str(path), '--out-file',
                                  str(path.parent / 'out.png')])
                     for path, _ in cases.values()], timeout=120)
    good = run_each([('demo.py', [face, str(tmp / 'hih-local_wflw.onnx'),
                                  '--out-file', str(tmp / 'good.png')])])[0]
    assert good.returncode == 0, good.stderr[-3000:]
    for (name, (path, fragments)), run in zip(cases.items(), runs):
        line = one_error_line(run, str(path), *fragments)
        assert len(line) < 600, line
        # nothing written beside the model, nothing ran
        assert sorted(os.listdir(path.parent)) == ['model.onnx'], name
        assert run.cpu_s < 30, (name, run.cpu_s)
        assert run.maxrss_kb < good.maxrss_kb + 200_000, name
    assert not marker.exists()


def test_metadata_outside_the_schema_is_refused_in_process():
    """Every schema key with a value of each wrong kind: one-line
    UserError naming the key, before anything reads it."""
    from hih_plugin.deploy.metadata import SCHEMA, check_metadata
    from hih_plugin.errors import UserError
    wrong = [None, True, 1e308, -1, 'x' * 400, [], [[[]]], {'type': 'x'},
             [float('nan')] * 3, ['a'] * 2000]
    base = dict(config='c.py', decoding='d', input_size=[64, 64],
                padding=1.25, use_udp=False, mean=[0, 0, 0], std=[1, 1, 1],
                bgr_to_rgb=True, dataset_name='d', keypoint_names=['a', 'b'],
                flip_indices=[1, 0], skeleton_links=[[0, 1]],
                keypoint_colors=[[0, 0, 0]] * 2, link_colors=[[1, 2, 3]],
                sigmas=[])
    assert check_metadata(base, 'm') is base
    for key in SCHEMA:
        for value in wrong:
            if value == [] and key in ('skeleton_links', 'link_colors',
                                       'sigmas') or \
                    value is True and key in ('use_udp', 'bgr_to_rgb'):
                continue
            with pytest.raises(UserError) as err:
                check_metadata(dict(base, **{key: value}), 'm')
            msg = str(err.value)
            assert f' {key} ' in msg and '\n' not in msg, msg
