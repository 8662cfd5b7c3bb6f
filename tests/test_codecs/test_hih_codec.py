"""HIHHeatmap: round trip, bias, batch decoding, data pipeline, bad input."""
import warnings

import numpy as np
import pytest
import torch
from conftest import fixture_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from mmpose.registry import KEYPOINT_CODECS

import hih_plugin  # noqa: F401
from hih_plugin.codecs.hih_heatmap import HIHHeatmap


def make(**kwargs):
    cfg = dict(type='HIHHeatmap', input_size=(256, 256),
               heatmap_size=(64, 64))
    cfg.update(kwargs)
    return KEYPOINT_CODECS.build(cfg)


def round_trip(codec, keypoints, visible=None):
    enc = codec.encode(keypoints, visible)
    assert enc['decimal_heatmaps'].shape[:2] == keypoints.shape[:2]
    kpts, scores = codec.decode(enc['heatmaps'], enc['decimal_heatmaps'][0])
    return enc, kpts[0], scores[0]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    d=st.sampled_from([2, 4, 8, 16]),
    sizes=st.sampled_from([((256, 256), (64, 64)), ((192, 256), (48, 64)),
                           ((64, 64), (64, 64)), ((96, 96), (32, 32))]))
def test_round_trip_random_subpixel(data, d, sizes):
    input_size, heatmap_size = sizes
    codec = make(input_size=input_size, heatmap_size=heatmap_size,
                 decimal_size=d)
    s = codec.scale_factor
    K = data.draw(st.integers(1, 6))
    # inside the map means round(x / s) lies in [0, W - 1]
    hi = (np.array(heatmap_size) - 0.5) * s - 1e-3
    coords = [[data.draw(st.floats(-0.5 * s[a], hi[a], allow_nan=False))
               for a in range(2)] for _ in range(K)]
    keypoints = np.array([coords], dtype=np.float32)
    enc, kpts, _ = round_trip(codec, keypoints)
    assert (enc['keypoint_weights'] == 1).all()
    err = np.abs(kpts - keypoints[0])
    assert (err <= s / (2 * d) + 1e-3).all(), (err, s / (2 * d))


def test_round_trip_wflw_fixture_landmarks():
    """Real landmarks through MMPose's pipeline (TopdownAffine to 256, then
    GenerateTarget and PackPoseInputs, which must carry all targets)."""
    from mmengine.registry import init_default_scope
    from mmpose.datasets import WFLWDataset
    init_default_scope('mmpose')
    root = fixture_dir('wflw')
    codec = dict(type='HIHHeatmap', input_size=(256, 256),
                 heatmap_size=(64, 64), decimal_size=8)
    dataset = WFLWDataset(
        data_root=root, ann_file='test_wflw.json',
        data_prefix=dict(img=''), data_mode='topdown',
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(256, 256)),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs', pack_transformed=True),
        ])
    decoder = KEYPOINT_CODECS.build(codec)
    checked = 0
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        heatmaps = sample.gt_fields.heatmaps
        decimal = sample.gt_instance_labels.decimal_heatmaps
        weights = sample.gt_instance_labels.keypoint_weights
        assert heatmaps.shape == (98, 64, 64)
        assert decimal.shape == (1, 98, 8, 8)
        assert weights.shape == (1, 98)
        truth = sample.gt_instances.transformed_keypoints[0]
        kpts, _ = decoder.decode(heatmaps.numpy(), decimal[0].numpy())
        valid = weights[0].numpy() > 0
        inside = ((truth > -2) & (truth < 254)).all(-1)
        assert (valid == inside).all()
        err = np.abs(kpts[0] - truth)[valid]
        assert (err <= 4 / 16 + 1e-3).all(), err.max()
        checked += valid.sum()
    assert checked > 200


@pytest.mark.parametrize('d', [4, 8])
def test_unbiased_mean_error(d):
    rng = np.random.default_rng(0)
    codec = make(decimal_size=d)
    keypoints = rng.uniform(8, 240, size=(1, 4000, 2)).astype(np.float32)
    _, kpts, _ = round_trip(codec, keypoints)
    err_cells = (kpts - keypoints[0]) / 4
    assert np.abs(err_cells.mean(0)).max() < 0.01
    assert np.abs(err_cells).max() <= 1 / (2 * d) + 1e-4


def test_official_convention_is_biased():
    """floor + round(d * f), decoded as c + j / d: errs up to 1/d cell with
    mean -1/(2 d^2) per axis; at d = 4 that is -0.031 cell, beyond 0.01."""
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(8, 240, size=(1, 4000, 2)).astype(np.float32)
    for d in (4, 8):
        codec = make(decimal_size=d, convention='official')
        _, kpts, _ = round_trip(codec, keypoints)
        err_cells = (kpts - keypoints[0]) / 4
        mean = err_cells.mean(0)
        assert np.allclose(mean, -1 / (2 * d**2), atol=0.003), mean
        assert np.abs(err_cells).max() > 1 / (2 * d) + 0.1 / d
    assert (mean < -0.005).all()
    codec = make(decimal_size=4, convention='official')
    _, kpts, _ = round_trip(codec, keypoints)
    assert ((kpts - keypoints[0]) / 4).mean(0).max() < -0.01


@pytest.mark.parametrize('mode', ['argmax', 'expectation'])
def test_batch_decode_equals_decode(mode):
    codec = make(input_size=(128, 96), heatmap_size=(32, 24), decimal_size=4,
                 decode_mode=mode)
    g = torch.Generator().manual_seed(0)
    heatmaps = torch.rand(3, 5, 24, 32, generator=g)
    decimal = torch.rand(3, 5, 4, 4, generator=g)
    kpts, scores = codec.batch_decode(heatmaps, decimal)
    assert len(kpts) == 3
    for b in range(3):
        k, s = codec.decode(heatmaps[b].numpy(), decimal[b].numpy())
        assert k.shape == (1, 5, 2) and s.shape == (1, 5)
        np.testing.assert_allclose(kpts[b], k, atol=1e-4)
        np.testing.assert_allclose(scores[b], s, atol=1e-6)


def test_expectation_mode():
    codec = make(decimal_size=4, decode_mode='expectation')
    heatmaps = np.zeros((1, 64, 64), np.float32)
    heatmaps[0, 20, 10] = 1
    decimal = np.zeros((1, 4, 4), np.float32)
    decimal[0, 1, 2] = decimal[0, 1, 3] = 0.5  # x between bins 2 and 3
    kpts, _ = codec.decode(heatmaps, decimal)
    # x: cell 10, bin 2.5 -> offset 0.25; y: bin 1 -> offset -0.125
    np.testing.assert_allclose(kpts[0, 0], [4 * 10.25, 4 * 19.875],
                               atol=1e-4)


def test_targets_are_distributions_and_peaks():
    codec = make()
    keypoints = np.array([[[100.3, 57.9], [3.0, 250.0]]], np.float32)
    enc = codec.encode(keypoints)
    dec = enc['decimal_heatmaps']
    np.testing.assert_allclose(dec.sum((-2, -1)), 1, atol=1e-5)
    assert enc['heatmaps'].max() == pytest.approx(1.0)
    # integer cell by rounding: 100.3 / 4 = 25.075 -> 25, 57.9 / 4 -> 14
    assert np.unravel_index(enc['heatmaps'][0].argmax(), (64, 64)) == (14, 25)


def test_invisible_out_of_map_and_nan_get_zero_weight():
    codec = make()
    keypoints = np.array(
        [[[50, 50], [60, 60], [-10, 50], [50, 300], [np.nan, 20],
          [20, np.inf]]], np.float32)
    visible = np.array([[1, 0, 1, 1, 1, 1]], np.float32)
    with pytest.warns(UserWarning, match='NaN'):
        enc = codec.encode(keypoints, visible)
    np.testing.assert_array_equal(enc['keypoint_weights'],
                                  [[1, 0, 0, 0, 0, 0]])
    assert np.isfinite(enc['heatmaps']).all()
    assert np.isfinite(enc['decimal_heatmaps']).all()
    assert enc['heatmaps'][1:].max() == 0
    np.testing.assert_allclose(enc['decimal_heatmaps'][0, 1:], 1 / 64)
    # an invisible NaN is not worth a warning
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        codec.encode(keypoints[:, 4:5], np.zeros((1, 1), np.float32))


def test_multiple_instances():
    codec = make()
    keypoints = np.array([[[40.2, 40.7], [100, 100]],
                          [[200.9, 120.1], [-50, 100]]], np.float32)
    enc = codec.encode(keypoints)
    assert enc['heatmaps'].shape == (2, 64, 64)
    assert enc['decimal_heatmaps'].shape == (2, 2, 8, 8)
    np.testing.assert_array_equal(enc['keypoint_weights'], [[1, 1], [1, 0]])
    # both instances of keypoint 0 are on its heatmap
    assert enc['heatmaps'][0, 10, 10] == 1 and enc['heatmaps'][0, 30, 50] == 1
    for n, cols in ((0, slice(0, 32)), (1, slice(32, 64))):
        heatmaps = np.zeros_like(enc['heatmaps'])
        heatmaps[..., cols] = enc['heatmaps'][..., cols]
        kpts, _ = codec.decode(heatmaps, enc['decimal_heatmaps'][n])
        assert np.abs(kpts[0, 0] - keypoints[n, 0]).max() <= 0.25 + 1e-4


@pytest.mark.parametrize('kwargs, match', [
    (dict(decimal_size=1), 'decimal_size'),
    (dict(decimal_size=0), 'decimal_size'),
    (dict(heatmap_size=(60, 60)), 'heatmap_size that divides'),
    (dict(decode_mode='mean'), "'argmax' or 'expectation'"),
    (dict(convention='paper'), 'unbiased'),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_decimal_size_mismatch_at_decode():
    codec = make(decimal_size=8)
    with pytest.raises(ValueError, match='decimal_size'):
        codec.decode(np.zeros((1, 64, 64)), np.zeros((1, 4, 4)))
    assert isinstance(codec, HIHHeatmap)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sigma=st.sampled_from([1., 1.5, 2.]),
       n=st.integers(1, 3))
def test_heatmap_is_the_gaussian_truncated_at_3_sigma(seed, sigma, n):
    """Windowed writes equal the full-map Gaussian within 3 sigma of each
    cell, 0 beyond (as the official code and MSRAHeatmap), max over
    instances; keypoints near and past the borders included."""
    codec = make(input_size=(64, 48), heatmap_size=(16, 12), sigma=sigma)
    rng = np.random.default_rng(seed)
    kpts = rng.uniform(-6, 70, (n, 5, 2))
    enc = codec.encode(kpts)
    cells = np.floor(kpts / codec.scale_factor + 0.5)
    yy, xx = np.mgrid[0:12, 0:16]
    expected = np.zeros((5, 12, 16))
    for i in range(n):
        for k in range(5):
            cx, cy = cells[i, k]
            if not (0 <= cx < 16 and 0 <= cy < 12):
                continue
            g = np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * sigma**2))
            inside = (np.abs(xx - cx) <= 3 * sigma) & \
                (np.abs(yy - cy) <= 3 * sigma)
            expected[k] = np.maximum(expected[k], g * inside)
    np.testing.assert_allclose(enc['heatmaps'], expected, atol=1e-6)
    valid = enc['keypoint_weights'] > 0
    np.testing.assert_array_equal(enc['keypoint_cells'][valid],
                                  cells[valid])
    assert (enc['keypoint_cells'][~valid] == 0).all()


def test_official_softmax_label_is_nearly_uniform_and_keeps_its_argmax():
    """decimal_label='softmax': the official softmax over the bins of a
    peak-1 Gaussian. At d = 8 and sigma 1 it peaks at 0.038 (uniform 1/64)
    and its KL to uniform is below 0.03 nats, against 1.68 for ours."""
    kpts = np.array([[[100.5, 60.5]]])  # a bin centre under 'official'
    ours = make(convention='official').encode(kpts)['decimal_heatmaps']
    off = make(convention='official', decimal_label='softmax').encode(
        kpts)['decimal_heatmaps']
    assert off.sum() == pytest.approx(1, abs=1e-6)
    assert off.max() == pytest.approx(0.038, abs=0.001)
    kl = float((off * np.log(off * 64)).sum())
    assert 0.02 < kl < 0.03
    assert float((ours * np.log(ours * 64 + 1e-30)).sum()) > 1.5
    assert off.argmax() == ours.argmax()
    with pytest.raises(ValueError, match="'gaussian'"):
        make(decimal_label='uniform')


@pytest.mark.parametrize('heatmap_size, sigma', [((64, 64), 0.75),
                                                 ((32, 32), 0.75),
                                                 ((32, 16), 0.5),
                                                 ((16, 16), 0.5),
                                                 ((8, 8), 0.5)])
def test_local_sigma_follows_the_coarser_stride(heatmap_size, sigma):
    """The local default sigma is 0.75 cell below stride 8 and 0.5 from
    stride 8 on, read on the coarser axis; the global one is always 1.5 and
    a given sigma always wins."""
    local = HIHHeatmap((128, 128), heatmap_size, decimal_mode='local')
    assert local.sigma == sigma
    assert HIHHeatmap((128, 128), heatmap_size).sigma == 1.5
    assert HIHHeatmap((128, 128), heatmap_size, decimal_mode='local',
                      sigma=1.0).sigma == 1.0
