"""Non-finite inputs never pass silently: codecs, decoders and FR/AUC."""
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.dataset import worker_init_fn
from mmengine.evaluator import Evaluator
from mmengine.logging import MessageHub
from mmengine.runner import set_random_seed
from mmpose.registry import KEYPOINT_CODECS, METRICS
from test_h3r_codec import _Targets
from torch.utils.data import DataLoader

import hih_plugin  # noqa: F401  registers the codecs and FailureRateAUC


def h3r(**kwargs):
    cfg = dict(type='H3RHeatmap', input_size=(256, 256),
               heatmap_size=(64, 64))
    cfg.update(kwargs)
    return KEYPOINT_CODECS.build(cfg)


def hih(**kwargs):
    cfg = dict(type='HIHHeatmap', input_size=(256, 256),
               heatmap_size=(64, 64), decimal_size=8)
    cfg.update(kwargs)
    return KEYPOINT_CODECS.build(cfg)


CODECS = [h3r, lambda: h3r(expected=True), hih]


# --- encoding: visibility ------------------------------------------------


@pytest.mark.parametrize('build', CODECS)
def test_non_finite_visibility_is_weight_zero_with_one_warning(build):
    kpts = np.full((1, 4, 2), 100.5)
    vis = np.array([[1., np.nan, np.inf, -np.inf]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        enc = build().encode(kpts, vis)
    np.testing.assert_array_equal(enc['keypoint_weights'], [[1, 0, 0, 0]])
    assert np.isfinite(enc['heatmaps']).all()
    assert enc['heatmaps'][1:].max() == 0  # no target for those three
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and '3 keypoint visibility' in msgs[0], msgs


@pytest.mark.parametrize('build', CODECS)
def test_finite_visibility_warns_nothing(build):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        build().encode(np.full((1, 3, 2), 50.), np.array([[1., 0., 2.]]))


@pytest.mark.parametrize('build', CODECS)
def test_visibility_n_k_1_equals_n_k(build):
    kpts = np.random.default_rng(0).uniform(0, 250, (2, 5, 2))
    vis = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1]], float)
    set_random_seed(0)
    a = build().encode(kpts, vis)
    set_random_seed(0)
    b = build().encode(kpts, vis[..., None])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize('build', CODECS)
def test_zero_instances(build):
    enc = build().encode(np.zeros((0, 5, 2)), np.zeros((0, 5)))
    assert enc['heatmaps'].shape == (5, 64, 64)
    assert enc['heatmaps'].max() == 0
    assert enc['keypoint_weights'].shape == (0, 5)


# --- decoding: non-finite maps ------------------------------------------


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_h3r_non_finite_map_decodes_to_nan_with_score_zero(bad):
    codec = h3r(input_size=(32, 32), heatmap_size=(8, 8))
    logits = np.random.default_rng(0).normal(size=(3, 8, 8))
    logits[1, 5, 2] = bad  # one bad cell in keypoint 1 only
    logits[2] = -np.inf  # no finite cell at all
    kp, score = codec.decode(logits)
    kps, scores = codec.batch_decode(torch.from_numpy(logits)[None])
    for k, s in ((kp, score), (kps[0], scores[0])):
        assert np.isnan(k[0, 1:]).all() and np.isfinite(k[0, 0]).all()
        np.testing.assert_array_equal(s[0, 1:], 0)
        assert s[0, 0] > 0
    np.testing.assert_allclose(kps[0][0, 0], kp[0, 0], rtol=1e-5)


def test_h3r_all_zero_map_decodes_by_the_tie_rule():
    """Ties at the k-th logit go to the lower flat index: an all-equal map
    decodes to the mean of its first topk cells (row 0, x = 0..8)."""
    codec = h3r(topk=9)
    kp, score = codec.decode(np.zeros((1, 64, 64)))
    kps, scores = codec.batch_decode(torch.zeros(1, 1, 64, 64))
    for k in (kp, kps[0]):
        np.testing.assert_allclose(k[0, 0], [4 * 4, 0])
    np.testing.assert_allclose(scores[0], score)


@st.composite
def tied_maps(draw):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    topk = draw(st.integers(1, H * W))
    values = draw(st.lists(st.sampled_from([-1., 0., 0.5, 2., -np.inf]),
                           min_size=2 * H * W, max_size=2 * H * W))
    return np.array(values).reshape(2, H, W), topk


@settings(max_examples=150, deadline=None)
@given(tied_maps())
def test_h3r_decode_and_batch_decode_agree_on_ties(case):
    logits, topk = case
    K, H, W = logits.shape
    codec = h3r(input_size=(4 * W, 4 * H), heatmap_size=(W, H), topk=topk)
    kp, score = codec.decode(logits)
    for dtype in (torch.float32, torch.float64):
        kps, scores = codec.batch_decode(
            torch.from_numpy(logits).to(dtype)[None])
        np.testing.assert_allclose(kps[0], kp, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(scores[0], score, rtol=1e-6)
    # the tie rule, written out: stable sort, the first topk cells
    flat = logits.reshape(K, -1)
    for k in range(K):
        if not np.isfinite(flat[k]).any():
            assert np.isnan(kp[0, k]).all()
            continue
        order = np.argsort(-flat[k], kind='stable')[:topk]
        p = np.exp(flat[k, order] - flat[k].max())
        cells = np.stack([order % W, order // W], -1)
        np.testing.assert_allclose(kp[0, k], 4 * (p @ cells) / p.sum(),
                                   rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('mode', ['argmax', 'expectation'])
@pytest.mark.parametrize('where', ['integer', 'decimal'])
@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_hih_non_finite_map_decodes_to_nan_with_score_zero(mode, where, bad):
    codec = hih(decode_mode=mode)
    rng = np.random.default_rng(1)
    heatmaps = rng.random((3, 64, 64)).astype(np.float32)
    decimal = rng.random((3, 8, 8)).astype(np.float32)
    if where == 'integer':
        heatmaps[1, 40, 3] = bad  # a single NaN cell used to win argmax
    else:
        decimal[1, 2, 2] = bad
    kp, score = codec.decode(heatmaps, decimal)
    kps, scores = codec.batch_decode(torch.from_numpy(heatmaps)[None],
                                     torch.from_numpy(decimal)[None])
    for k, s in ((kp, score), (kps[0], scores[0])):
        assert np.isnan(k[0, 1]).all() and s[0, 1] == 0
        assert np.isfinite(k[0, [0, 2]]).all() and (s[0, [0, 2]] > 0).all()
    np.testing.assert_allclose(kps[0][0, [0, 2]], kp[0, [0, 2]], atol=1e-4)


def test_hih_nan_weights_model_output_is_nan_not_cell_zero():
    """The issue's case: an all-NaN output decoded to cell 0 with a score."""
    codec = hih()
    kp, score = codec.decode(np.full((2, 64, 64), np.nan),
                             np.full((2, 8, 8), np.nan))
    assert np.isnan(kp).all() and (score == 0).all()


# --- H3R rounding stream and the epoch ----------------------------------


def draws(seed, epoch, n=3):
    set_random_seed(seed)
    MessageHub.get_current_instance().update_info('epoch', epoch)
    codec = h3r()  # a resumed run builds a new codec
    kpts = np.full((1, 50, 2), 4 * 30.5)
    return [codec.encode(kpts, None)['heatmaps'] for _ in range(n)]


def test_h3r_stream_is_a_function_of_seed_and_epoch():
    hub = MessageHub.get_current_instance()
    before = hub.get_info('epoch')
    try:
        a = draws(0, epoch=2)
        assert all(np.array_equal(x, y)
                   for x, y in zip(a, draws(0, epoch=2)))
        # a new epoch, or another seed, draws new roundings
        assert not any(np.array_equal(x, y)
                       for x, y in zip(a, draws(0, epoch=3)))
        assert not any(np.array_equal(x, y)
                       for x, y in zip(a, draws(1, epoch=2)))
    finally:
        hub.update_info('epoch', before)


def worker_draws(seed, epoch):
    """What non-persistent workers draw in an epoch: forked after MMEngine
    published the epoch, re-seeded by MMEngine's worker_init_fn."""
    set_random_seed(seed)
    MessageHub.get_current_instance().update_info('epoch', epoch)
    init = partial(worker_init_fn, num_workers=2, rank=0, seed=seed)
    loader = DataLoader(_Targets(h3r()), batch_size=1, num_workers=2,
                        worker_init_fn=init, multiprocessing_context='fork')
    return [t[0] for t in loader]


@pytest.mark.timeout(60)
def test_h3r_non_persistent_workers_draw_new_roundings_each_epoch():
    hub = MessageHub.get_current_instance()
    before = hub.get_info('epoch')
    try:
        a, b = worker_draws(5, epoch=1), worker_draws(5, epoch=1)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        c = worker_draws(5, epoch=2)  # same worker seeds, next epoch
        assert not any(torch.equal(x, y) for x, y in zip(a, c))
        assert not torch.equal(a[0], a[1])  # two workers, two streams
    finally:
        hub.update_info('epoch', before)


# --- FR/AUC --------------------------------------------------------------


def _sample(pred_offset, norm=10.0):
    gt = np.array([[[0, 0], [norm, 0], [5, 5]]], dtype=np.float32)
    return dict(
        pred_instances=dict(keypoints=gt + pred_offset),
        gt_instances=dict(keypoints=gt,
                          keypoints_visible=np.ones((1, 3), np.float32),
                          bboxes=np.array([[0, 0, 10, 10]], np.float32)))


def test_nan_prediction_is_a_failure_and_is_counted():
    norm = dict(norm_mode='keypoint_distance', keypoint_indices=[0, 1])
    evaluator = Evaluator([METRICS.build(dict(type='NME', **norm)),
                           METRICS.build(dict(type='FailureRateAUC',
                                              **norm))])
    evaluator.dataset_meta = dict(dataset_name='toy', keypoint_id2name={
        i: str(i) for i in range(3)})
    nan = np.float32(np.nan)
    samples = [_sample(0.), _sample(0.), _sample(0.), _sample(nan)]
    evaluator.process(samples)
    out = evaluator.evaluate(len(samples))
    assert np.isnan(out['NME'])
    assert out['FR@10'] == pytest.approx(0.25)  # was 0.0: NaN "succeeded"
    assert out['AUC@10'] == pytest.approx(0.75)
    assert out['non-finite'] == 1
