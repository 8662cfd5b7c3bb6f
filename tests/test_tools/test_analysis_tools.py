"""The evidence tools of tools/analysis/ on tiny settings: they run, write
what they promise, and their numbers make physical sense."""
import argparse
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
from conftest import ROOT, fixture_dir, run_tool
from fixture_data import write_300w_folder

pytest.importorskip('mmpose')


def load_tool(name):
    """Import tools/analysis/<name>.py as a module (tools/ is no package)."""
    path = osp.join(ROOT, 'tools', 'analysis', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def quantization(tmp_path_factory):
    root = fixture_dir('wflw')
    out = tmp_path_factory.mktemp('quant')
    proc = run_tool('analysis/quantization_error.py', '--ann-file',
                    osp.join(root, 'test_wflw.json'), '--dataset-type',
                    'WFLWDataset', '--codecs', 'msra', 'dark', 'udp',
                    'simcc', 'hih', 'h3r', '--heatmap-sizes', '64', '16', '8',
                    '--out-dir', out)
    with open(out / 'results.json') as f:
        return proc, out, json.load(f)


def _row(res, codec, size):
    return next(r for r in res['rows']
                if r['codec'] == codec and r['heatmap_size'][0] == size)


def test_quantization_outputs(quantization):
    proc, out, res = quantization
    assert len(res['rows']) == 6 * 3
    # The fixture's 2 images hold 4 annotated faces.
    assert res['meta']['n_instances'] == 4
    assert res['meta']['normalization'] == 'distance of keypoints 60 and 72'
    for r in res['rows']:
        # H3R drops keypoints in the outer half cell of the map, which at
        # 8x8 are some face-contour points; every other codec keeps all.
        if r['codec'] != 'h3r':
            assert r['n_keypoints'] == 4 * 98, r['codec']
        assert 0.9 * 4 * 98 < r['n_keypoints'] <= 4 * 98, r['codec']
        for key in ('nme_percent', 'err_px_mean', 'bias_x_px', 'bias_y_px'):
            assert np.isfinite(r[key]), (r['codec'], key)
    md = (out / 'results.md').read_text()
    assert md.count('\n| msra |') == 3 and '| h3r |' in proc.stdout
    with open(out / 'error_vs_heatmap_size.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_quantization_numbers_make_sense(quantization):
    _, _, res = quantization
    msra = [_row(res, 'msra', s)['err_px_mean'] for s in (64, 16, 8)]
    # Plain rounding: about 0.38 cells, i.e. ~1.5 input px at stride 4, and
    # it grows as the heatmap shrinks.
    assert 1.2 < msra[0] < 1.9
    assert msra[0] < msra[1] < msra[2]
    # NME and pixels agree: the same error, rescaled to the original image
    # and divided by the inter-ocular distance.
    m64 = _row(res, 'msra', 64)
    assert 0 < m64['nme_percent'] < 100
    assert abs(m64['bias_x_px']) < m64['err_px_mean']
    # The exactly-decodable codecs. UDP is exact only with its own crop
    # (TopdownAffine(use_udp=True)), which the tool pairs it with.
    assert _row(res, 'h3r', 64)['err_px_mean'] < 1e-3
    assert _row(res, 'dark', 64)['err_px_mean'] < 0.01
    assert _row(res, 'udp', 64)['err_px_mean'] < 0.01
    assert _row(res, 'hih', 64)['err_px_mean'] < 0.5 * m64['err_px_mean']
    assert _row(res, 'hih', 64)['ratio_to_reference'] == pytest.approx(
        _row(res, 'hih', 64)['err_px_mean'] / m64['err_px_mean'])


def test_quantization_normalizer_follows_mmpose_nme():
    tool = load_tool('quantization_error')
    kpts = np.zeros((1, 98, 2))
    kpts[0, 72] = (3., 4.)
    info = dict(keypoints=kpts, bbox=np.array([[0., 0., 10., 20.]]))
    assert tool.normalizer(info, 'wflw', None)[0] == pytest.approx(5.)
    # AFLW: its box_size; other datasets: the longer bbox side.
    assert tool.normalizer(dict(info, box_size=7.), 'aflw', None)[0] == 7.
    assert tool.normalizer(info, 'coco', None)[0] == 20.
    assert tool.normalizer(info, 'coco', (0, 72))[0] == pytest.approx(5.)


def test_quantization_unknown_codec_is_a_clear_error(tmp_path):
    root = fixture_dir('wflw')
    proc = run_tool('analysis/quantization_error.py', '--ann-file',
                    osp.join(root, 'test_wflw.json'), '--dataset-type',
                    'WFLWDataset', '--codecs', 'nosuchcodec', '--out-dir',
                    tmp_path, check=False)
    assert proc.returncode == 2
    assert 'unknown codec' in proc.stderr and 'Traceback' not in proc.stderr


def test_benchmark_codecs(tmp_path):
    """Against MSRA and, with --against, against a second checkout timed in
    the same run (here this one again, as a directory)."""
    out = tmp_path / 'speed.json'
    proc = run_tool('analysis/benchmark_codecs.py', '--codecs', 'msra',
                    'dark', 'hih', 'h3r-draw', '--batch-size', '4',
                    '--encode-instances', '2', '--repeats', '1', '--against',
                    ROOT, '--out', out)
    with open(out) as f:
        res = json.load(f)
    rows = {r['codec']: r for r in res['rows']}
    assert set(rows) == {'msra', 'dark', 'hih', 'h3r-draw'}
    assert rows['msra']['encode_ratio_to_msra'] == 1.0
    for name in ('hih', 'h3r-draw'):
        r = rows[name]
        assert r['batch_decode_s'] > 0 and r['encode_s'] > 0
        assert r['batch_speedup_vs_own_loop'] == pytest.approx(
            r['decode_loop_s'] / r['batch_decode_s'])
    # MSRAHeatmap has no batch_decode: only its loop is timed.
    assert rows['msra']['batch_decode_s'] is None
    assert res['meta']['num_keypoints'] == 98 and '| hih |' in proc.stdout
    against = {r['codec']: r for r in res['against']}
    assert set(against) == set(rows)
    hih = against['hih']
    assert hih['decode_loop_ratio'] == pytest.approx(
        hih['decode_loop_s'] / hih['decode_loop_ref_s'])
    assert hih['batch_decode_ref_s'] > 0
    assert against['msra']['batch_decode_ratio'] is None
    assert f'ours / {ROOT}' in proc.stdout
    bad = run_tool('analysis/benchmark_codecs.py', '--against',
                   'no-such-revision', check=False)
    assert bad.returncode == 2 and 'Traceback' not in bad.stderr
    assert bad.stderr.startswith('error: --against no-such-revision')


def test_subpixel_images_have_exact_ground_truth():
    """Each blob's centroid is its landmark, to a small fraction of a pixel:
    the ground truth is where the image says it is."""
    tool = load_tool('subpixel_benchmark')
    rng = np.random.default_rng(1)
    # Without pixel noise (which is zero-mean, but blurs one blob's
    # centroid by ~0.1 px), only uint8 rounding is left.
    imgs, kpts = tool.make_images(6, 64, 2, rng, noise=0.)
    assert imgs.shape == (6, 64, 64, 3) and imgs.dtype == np.uint8
    assert np.any(np.abs(kpts - np.round(kpts)) > 0.2)  # sub-pixel
    yy, xx = np.mgrid[0:64, 0:64]
    checked = 0
    for img, kp in zip(imgs.astype(np.float64), kpts):
        # The background is grey and constant down each column.
        bg = np.median(img[..., 0], axis=0)[None, :, None]
        for k, (x, y) in enumerate(kp):
            if np.min(np.hypot(*(np.delete(kp, k, 0) - (x, y)).T),
                      initial=99) < 14:
                continue  # another blob is inside the window
            # Blob profile: the part of each pixel moved towards its colour.
            toward = tool.PALETTE[k] - bg
            g = ((img - bg) * toward).sum(-1) / (toward**2).sum(-1)
            g *= np.hypot(xx - x, yy - y) < 7
            cx, cy = (g * xx).sum() / g.sum(), (g * yy).sum() / g.sum()
            assert np.hypot(cx - x, cy - y) < 0.03
            checked += 1
    assert checked >= 6


def test_subpixel_benchmark_tiny(tmp_path):
    proc = run_tool('analysis/subpixel_benchmark.py', '--tiny', '--out-dir',
                    tmp_path, timeout=300)
    with open(tmp_path / 'results.json') as f:
        res = json.load(f)
    rows = res['rows']
    assert [(r['stride'], r['method']) for r in rows] == [
        (s, m) for s in (4, 8)
        for m in ('msra', 'dark', 'simcc', 'h3r', 'hih', 'hih-local',
                  'hih-local-novotes', 'hih-local-p1', 'hih-local-blur2',
                  'hih-local-blur3')]
    for r in rows:
        # every method gets the error split, those with heatmaps the share
        # of wrong integer cells too
        assert 0 <= r['cell_miss_percent'] <= 100
        assert ('argmax_miss_percent' in r) == (r['method'] != 'simcc')
        assert np.isfinite(r['nme_percent']) and r['nme_percent'] > 0
        assert np.isfinite(r['final_loss'])
        # Predictions are decoded into the 64 px image.
        assert r['err_px_mean'] < 64 * 1.5
        # every HIH row shows whether its decimal branch learnt
        assert ('decimal_loss_end' in r) == r['method'].startswith('hih')
    assert all(r['ratio_to_msra'] == 1.0 for r in rows
               if r['method'] == 'msra')
    # The shared backbone is identical; heads differ.
    assert len({r['params'] for r in rows if r['method'] in ('msra', 'dark')
                and r['stride'] == 4}) == 1
    assert '| anywhere | 8 | 8x8 | h3r |' in proc.stdout
    assert res['summary'][0]['seeds'] == 1


def test_subpixel_benchmark_regimes(tmp_path):
    """Confined landmarks stay near their own anchor; faces are cropped
    around their landmarks and scored by the inter-ocular distance."""
    tool = load_tool('subpixel_benchmark')
    args = argparse.Namespace(input_size=64, num_keypoints=3, num_train=40,
                              num_test=10, confined_radius=3.,
                              regime='confined')
    (_, train, _), (_, test, _) = tool.make_data(args,
                                                 np.random.default_rng(0))
    both = np.concatenate([train, test])
    spread = both.max(0) - both.min(0)  # per landmark and axis
    assert (spread <= 6).all() and (spread > 4).all()
    args.regime = 'anywhere'
    (_, free, _), _ = tool.make_data(args, np.random.default_rng(0))
    assert (free.max(0) - free.min(0) > 30).all()

    # two worker processes: the rows still come in the order of the jobs
    run_tool('analysis/subpixel_benchmark.py', '--tiny', '--regime',
             'confined', 'faces', '--methods', 'msra', 'hih-local-mse',
             '--strides', '4', '--jobs', '2', '--out-dir', tmp_path,
             timeout=300)
    with open(tmp_path / 'results.json') as f:
        rows = json.load(f)['rows']
    assert [(r['regime'], r['method']) for r in rows] == [
        (g, m) for g in ('confined', 'faces')
        for m in ('msra', 'hih-local-mse', 'hih-local-mse+votes',
                  'hih-local-mse-blur2', 'hih-local-mse-blur3')]
    face = [r for r in rows if r['regime'] == 'faces']
    # inter-ocular NME: errors of several px over a ~20 px eye distance
    assert all(r['nme_percent'] > 100 * r['err_px_mean'] / 64 for r in face)


def test_loss_trend_reads_the_newest_run(tmp_path):
    old = tmp_path / '20260101_000000' / 'vis_data'
    new = tmp_path / '20260102_000000' / 'vis_data'
    for folder, values in ((old, [9., 9.]), (new, [4., 3., 2., 1.])):
        folder.mkdir(parents=True)
        with open(folder / 'scalars.json', 'w') as f:
            for i, v in enumerate(values):
                f.write(json.dumps(dict(loss=v, loss_decimal=v / 2, step=i)))
                f.write('\n')
            f.write(json.dumps(dict(NME=0.1, step=len(values))) + '\n')
    proc = run_tool('analysis/loss_trend.py', tmp_path, '--keys',
                    'loss_decimal', '--window', '2')
    assert 'loss_decimal: 1.75 (first 2) -> 0.75 (last 2), -57.1%' \
        in proc.stdout
    proc = run_tool('analysis/loss_trend.py', tmp_path, '--keys', 'nope',
                    check=False)
    assert proc.returncode == 2 and 'nope was never logged' in proc.stderr


def test_error_split_gives_the_known_shares():
    """A toy with known cell misses: 2 of 8 landmarks are predicted a cell
    off (x by +1, y by -1.2), the others inside their cell."""
    tool = load_tool('subpixel_benchmark')
    gt = np.array([[[3.2, 4.1], [7.4, 2.6], [1.0, 1.0], [5.5, 5.4]],
                   [[2.2, 3.3], [6.0, 6.0], [4.1, 0.8], [0.1, 7.3]]])
    pred = gt + np.array([0.2, -0.1])
    pred[0, 1, 0] += 1.  # 7.4 -> 8.6: cell 7 -> 9
    pred[1, 2, 1] -= 1.2  # 0.8 -> -0.5: cell 1 -> 0
    nme = np.linalg.norm(pred - gt, axis=-1) * 10.
    argmax = np.floor(gt + 0.5)
    argmax[1, 3] += (1, 0)  # one integer cell off, its point still inside
    split = tool.error_split(pred, gt, nme, argmax)
    assert split['cell_miss_percent'] == pytest.approx(100 * 2 / 8)
    miss = np.zeros((2, 4), bool)
    miss[0, 1] = miss[1, 2] = True
    assert split['nme_miss'] == pytest.approx(nme[miss].mean())
    assert split['nme_hit'] == pytest.approx(nme[~miss].mean())
    assert split['error_share_miss_percent'] == pytest.approx(
        100 * nme[miss].sum() / nme.sum())
    assert split['argmax_miss_percent'] == pytest.approx(100 / 8)
    assert split['far_miss_percent'] == 0
    # a gross error: 3 cells off is a far miss, with its share of the error
    pred[0, 0] += (3., 0.)
    nme = np.linalg.norm(pred - gt, axis=-1) * 10.
    split = tool.error_split(pred, gt, nme, argmax)
    assert split['far_miss_percent'] == pytest.approx(100 / 8)
    assert split['error_share_far_percent'] == pytest.approx(
        100 * nme[0, 0] / nme.sum())
    # no miss at all: the miss NME is undefined, not 0
    none = tool.error_split(gt, gt, nme)
    assert none['cell_miss_percent'] == 0 and np.isnan(none['nme_miss'])


def test_to_cells_inverts_the_topdown_decoding():
    tool = load_tool('subpixel_benchmark')
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 32, (3, 5, 2))
    centers = rng.uniform(50, 80, (3, 2))
    scales = rng.uniform(40, 90, (3, 2))
    # TopdownPoseEstimator: x = u * s / input * scale + center - scale / 2
    x = (u * 4 / 128 * scales[:, None] + centers[:, None] -
         scales[:, None] / 2)
    np.testing.assert_allclose(tool.to_cells(x, centers, scales, 128, 4), u)


def test_subpixel_benchmark_merges_seeds_run_apart(tmp_path):
    """Two seeds run separately merge into one summary with their mean and
    spread; a run with other settings is refused in one line."""
    common = ['--tiny', '--regime', 'confined', '--strides', '4',
              '--methods', 'msra', 'hih-local']
    for seed in (0, 1):
        run_tool('analysis/subpixel_benchmark.py', *common, '--seeds', seed,
                 '--out-dir', tmp_path / str(seed), timeout=300)
    run_tool('analysis/subpixel_benchmark.py', '--merge',
             tmp_path / '0' / 'results.json', tmp_path / '1' / 'results.json',
             '--out-dir', tmp_path / 'both')
    with open(tmp_path / 'both' / 'results.json') as f:
        res = json.load(f)
    runs = {(r['method'], r['seed']): r['nme_percent'] for r in res['rows']}
    # the neighbour-trained read-out is also decoded without its votes,
    # with plain vote weights and with blurred argmaxes
    assert set(runs) == {(m, s) for m in (
        'msra', 'hih-local', 'hih-local-novotes', 'hih-local-p1',
        'hih-local-blur2', 'hih-local-blur3') for s in (0, 1)}
    local = next(r for r in res['summary'] if r['method'] == 'hih-local')
    a, b = runs['hih-local', 0], runs['hih-local', 1]
    assert local['seeds'] == 2
    assert local['nme_percent'] == pytest.approx((a + b) / 2)
    assert local['nme_percent_spread'] == pytest.approx(abs(a - b))
    # the report keeps the commands that trained, one per merged run
    assert [c.split('--seeds ')[1].split()[0]
            for c in res['meta']['merged_commands']] == ['0', '1']
    assert res['meta']['methods'] == ['msra', 'hih-local']
    with open(tmp_path / '1' / 'results.json') as f:
        other = json.load(f)
    other['meta']['steps'] = 11
    with open(tmp_path / 'other.json', 'w') as f:
        json.dump(other, f)
    proc = run_tool('analysis/subpixel_benchmark.py', '--merge',
                    tmp_path / '0' / 'results.json', tmp_path / 'other.json',
                    '--out-dir', tmp_path / 'no', check=False)
    assert proc.returncode == 2 and 'other settings (steps)' in proc.stderr


def test_subpixel_benchmark_photos_regime(tmp_path):
    """The photos regime reads a 300-W folder through the split lists, the
    converter and Face300WDataset, and reports FR@8 and the error per part
    of the face; without the photographs it says why and trains nothing."""
    names = [f'image_{i:04d}' for i in range(1, 9)]
    write_300w_folder(tmp_path / 'photos', names, np.random.default_rng(0))
    splits = tmp_path / 'splits'
    splits.mkdir()
    (splits / 'lfpw_68_train.txt').write_text('\n'.join(names[:6]) + '\n')
    (splits / 'lfpw_68_val.txt').write_text('\n'.join(names[6:]) + '\n')
    proc = run_tool('analysis/subpixel_benchmark.py', '--tiny', '--regime',
                    'photos', '--photos', tmp_path / 'photos',
                    '--photo-splits', splits, '--methods', 'msra',
                    'hih-local', '--strides', '8', '--out-dir',
                    tmp_path / 'out', timeout=300)
    with open(tmp_path / 'out' / 'results.json') as f:
        rows = json.load(f)['rows']
    assert [r['method'] for r in rows] == [
        'msra', 'hih-local', 'hih-local-novotes', 'hih-local-p1',
        'hih-local-blur2', 'hih-local-blur3']
    for r in rows:
        assert r['regime'] == 'photos' and np.isfinite(r['nme_percent'])
        assert 0 <= r['fr8_percent'] <= 100
        parts = [r[f'nme_{p}']
                 for p in ('jaw', 'brows', 'nose', 'eyes', 'mouth')]
        assert all(np.isfinite(parts))
        # the per-part NMEs average (by landmark count) to the whole NME
        counts = (17, 10, 9, 12, 20)
        assert np.dot(parts, counts) / 68 == pytest.approx(r['nme_percent'])
        assert sum(r[f'faces_{b}'] for b in (
            'frontal', 'turned', 'strongly_turned')) == 2
    assert '| 8 | hih-local | ' in proc.stdout.split('Photos:')[1]

    proc = run_tool('analysis/subpixel_benchmark.py', '--tiny', '--regime',
                    'photos', '--photos', tmp_path / 'none', '--out-dir',
                    tmp_path / 'skipped')
    assert 'skipping the photos regime: no photographs at' in proc.stdout
    assert not (tmp_path / 'skipped' / 'results.json').exists()


@pytest.mark.parametrize('stride, sigma', [(4, 0.75), (8, 0.5)])
def test_benchmark_hih_local_is_the_codec_default_at_each_stride(stride,
                                                                 sigma):
    """The benchmark's 'hih-local' row trains the local codec's default
    sigma at its stride; the sigma rows keep theirs."""
    tool = load_tool('subpixel_benchmark')
    from mmpose.registry import KEYPOINT_CODECS
    for method, want in (('hih-local', sigma), ('hih-local-sigma075', 0.75),
                         ('hih-local-sigma05', 0.5)):
        _, codec = tool.method_model(method, 128, stride, 68)
        assert KEYPOINT_CODECS.build(codec).sigma == want, method
