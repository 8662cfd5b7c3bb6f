"""H3RHeatmap: convention, losslessness, unbiasedness, seeding, decoding."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.dataset import worker_init_fn
from mmengine.runner import set_random_seed
from mmpose.registry import KEYPOINT_CODECS
from scipy.stats import binomtest
from torch.utils.data import DataLoader, Dataset

import hih_plugin  # noqa: F401  registers H3RHeatmap

S = 4  # stride of the default codec below


def build(**kwargs):
    cfg = dict(type='H3RHeatmap', input_size=(256, 256),
               heatmap_size=(64, 64))
    cfg.update(kwargs)
    return KEYPOINT_CODECS.build(cfg)


def log_prob(heatmaps):
    """Log of a probability map; cells of probability 0 become -inf."""
    with np.errstate(divide='ignore'):
        return np.log(heatmaps)


def drawn_cells(heatmaps):
    """(K, 2) x, y of the single 1 in each one-hot channel."""
    K, H, W = heatmaps.shape
    flat = heatmaps.reshape(K, -1)
    assert np.all(flat.sum(axis=1) == 1) and np.all(flat.max(axis=1) == 1)
    idx = flat.argmax(axis=1)
    return np.stack([idx % W, idx // W], axis=-1)


# --- convention ----------------------------------------------------------


@pytest.mark.parametrize('expected', [False, True])
def test_convention_u_is_x_over_stride_and_cell_i_centred_at_i(expected):
    # Non-square sizes pin x -> column and y -> row.
    codec = build(input_size=(192, 256), heatmap_size=(48, 64),
                  expected=expected)
    kpts = np.array([[[4 * 10, 4 * 20], [0, 0], [4 * 47, 4 * 63]]], float)
    enc = codec.encode(kpts, np.ones((1, 3)))
    hm = enc['heatmaps']
    assert hm.shape == (3, 64, 48)
    assert hm[0, 20, 10] == 1 and hm[1, 0, 0] == 1 and hm[2, 63, 47] == 1
    assert np.all(hm.reshape(3, -1).sum(axis=1) == 1)
    kp, _ = codec.decode(log_prob(hm))
    np.testing.assert_allclose(kp, kpts, atol=1e-4)


# --- lossless ------------------------------------------------------------

coord = st.floats(0, 63, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(coord, coord), min_size=1, max_size=8))
def test_lossless_round_trip_of_expected_map(uvs):
    """decode(log expected map) returns u to float precision (top-9 holds
    the 1-4 non-zero cells plus cells of probability 0 given as -inf)."""
    codec = build(expected=True, topk=9)
    u = np.array(uvs, dtype=np.float64)[None]
    hm = codec.encode(u * S, np.ones(u.shape[:2]))['heatmaps']
    np.testing.assert_allclose(hm.reshape(len(uvs), -1).sum(1), 1, atol=1e-6)
    kp, _ = codec.decode(log_prob(hm))
    assert np.abs(kp / S - u).max() < 1e-4
    kp_b, _ = codec.batch_decode(torch.from_numpy(log_prob(hm))[None])
    assert np.abs(kp_b[0] / S - u).max() < 1e-4


def test_lossless_with_log_of_p_plus_tiny():
    # The finite alternative to -inf: the zero cells get weight ~1e-30.
    codec = build(expected=True)
    u = np.array([[[10.3, 20.7], [0.0, 63.0], [62.99, 0.01]]])
    hm = codec.encode(u * S, np.ones((1, 3)))['heatmaps']
    kp, _ = codec.decode(np.log(hm + 1e-30))
    assert np.abs(kp / S - u).max() < 1e-4


# --- unbiased ------------------------------------------------------------


def random_draws(codec, u, n_draws, keypoints_per_call=100):
    """Drawn cells for n_draws encodings of the single position u."""
    kpts = np.tile(np.asarray(u, float) * S, (1, keypoints_per_call, 1))
    vis = np.ones((1, keypoints_per_call))
    cells = [drawn_cells(codec.encode(kpts, vis)['heatmaps'])
             for _ in range(n_draws // keypoints_per_call)]
    return np.concatenate(cells)


@pytest.mark.parametrize('u', [(10.3, 20.75), (41.5, 7.125)])
def test_random_rounding_is_unbiased(u):
    set_random_seed(0)
    codec = build()
    cells = random_draws(codec, u, 10_000)
    # Each draw decodes to its cell exactly (log of a one-hot map).
    one_hot = np.zeros((len(cells[:5]), 64, 64))
    one_hot[np.arange(5), cells[:5, 1], cells[:5, 0]] = 1
    kp, _ = codec.decode(log_prob(one_hot))
    np.testing.assert_allclose(kp[0] / S, cells[:5], atol=1e-6)

    u = np.array(u)
    assert np.all(np.abs(cells.mean(axis=0) - u) < 0.01)
    base = np.floor(u)
    assert np.all((cells == base) | (cells == base + 1))

    # Each axis goes up with probability equal to its fractional part, and
    # independently of the other axis.
    up = cells - base
    frac = u - base
    for axis in (0, 1):
        assert binomtest(int(up[:, axis].sum()), len(up),
                         frac[axis]).pvalue > 1e-3
    assert binomtest(int((up[:, 0] * up[:, 1]).sum()), len(up),
                     frac[0] * frac[1]).pvalue > 1e-3


def test_integer_position_is_never_rounded_away():
    set_random_seed(1)
    cells = random_draws(build(), (0, 63), 1000)
    assert np.all(cells == (0, 63))


# --- seeding -------------------------------------------------------------


def targets_after_seed(seed, n=3):
    set_random_seed(seed)
    codec = build()  # a new run builds a new codec
    kpts = np.full((1, 50, 2), 4 * 30.5)
    return [codec.encode(kpts, np.ones((1, 50)))['heatmaps'] for _ in range(n)]


def test_same_seed_same_targets_different_seed_different_targets():
    a, b = targets_after_seed(3), targets_after_seed(3)
    c = targets_after_seed(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c))
    # successive draws of one run differ (a fresh rounding per load)
    assert not np.array_equal(a[0], a[1])


class _Targets(Dataset):
    """Encodes the same half-cell position for every index."""

    def __init__(self, codec):
        self.codec = codec

    def __len__(self):
        return 4

    def __getitem__(self, i):
        kpts = np.full((1, 50, 2), 4 * 30.5)
        return torch.from_numpy(
            self.codec.encode(kpts, np.ones((1, 50)))['heatmaps'])


def loader_targets(seed, use_mmengine_init=True):
    set_random_seed(seed)
    codec = build()
    codec.encode(np.zeros((1, 1, 2)), None)  # main process draws first

    def init(worker_id):
        worker_init_fn(worker_id, num_workers=2, rank=0, seed=seed)

    loader = DataLoader(_Targets(codec), batch_size=1, num_workers=2,
                        worker_init_fn=init if use_mmengine_init else None,
                        multiprocessing_context='fork')
    return [t[0] for t in loader]  # index i is loaded by worker i % 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize('use_mmengine_init', [True, False])
def test_dataloader_workers_draw_different_reproducible_streams(
        use_mmengine_init):
    a = loader_targets(5, use_mmengine_init)
    # worker 0 and worker 1 (samples 0 and 1) must not share a stream,
    # even though the codec was copied from the main process
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a[2], a[3])
    b = loader_targets(5, use_mmengine_init)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c = loader_targets(6, use_mmengine_init)
    assert not any(torch.equal(x, y) for x, y in zip(a, c))


def test_worker_seed_selects_stream():
    """What a DataLoader worker sees: torch seed = base seed + worker id."""
    kpts = np.full((1, 50, 2), 4 * 30.5)
    codec = build()
    draws = {}
    for worker_id in (0, 1):
        torch.manual_seed(1234 + worker_id)
        draws[worker_id] = codec.encode(kpts, None)['heatmaps']
    assert not np.array_equal(draws[0], draws[1])
    torch.manual_seed(1234)
    assert np.array_equal(codec.encode(kpts, None)['heatmaps'], draws[0])


# --- decoding ------------------------------------------------------------


@st.composite
def logit_maps(draw):
    B, K = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    topk = draw(st.integers(1, H * W))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # distinct values: tied logits at the k-th place make top-k ambiguous
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    logits = np.stack([
        rng.permutation(H * W).reshape(H, W) + rng.random((H, W)) * 0.5
        for _ in range(B * K)
    ]).reshape(B, K, H, W) * scale / (H * W)
    return logits.astype(np.float32), topk


@settings(max_examples=100, deadline=None)
@given(logit_maps())
def test_batch_decode_equals_decode(case):
    logits, topk = case
    B, K, H, W = logits.shape
    codec = build(input_size=(8 * W, 4 * H), heatmap_size=(W, H), topk=topk)
    kps, scores = codec.batch_decode(torch.from_numpy(logits))
    assert len(kps) == B
    for b in range(B):
        kp, score = codec.decode(logits[b])
        assert kps[b].shape == kp.shape == (1, K, 2)
        assert scores[b].shape == score.shape == (1, K)
        np.testing.assert_allclose(kps[b], kp, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(scores[b], score, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_batch_decode_on_gpu_matches_cpu():
    logits = torch.randn(2, 98, 64, 64)
    codec = build()
    cpu, cpu_scores = codec.batch_decode(logits)
    gpu, gpu_scores = codec.batch_decode(logits.cuda())
    for a, b in zip(cpu + cpu_scores, gpu + gpu_scores):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_decode_is_topk_softmax_mean_times_stride():
    logits = np.full((1, 4, 4), -50.)
    logits[0, 1, 2] = 2.  # x=2, y=1
    logits[0, 3, 0] = 1.  # x=0, y=3
    codec = build(input_size=(16, 16), heatmap_size=(4, 4), topk=2)
    kp, score = codec.decode(logits)
    p = np.exp(2) / (np.exp(2) + np.exp(1))
    np.testing.assert_allclose(kp[0, 0], 4 * np.array(
        [2 * p + 0 * (1 - p), 1 * p + 3 * (1 - p)]), rtol=1e-6)
    np.testing.assert_allclose(score[0, 0], 1 / (1 + np.exp(-2.)), rtol=1e-6)
    # topk=1 is plain argmax
    kp1, _ = build(input_size=(16, 16), heatmap_size=(4, 4),
                   topk=1).decode(logits)
    np.testing.assert_allclose(kp1[0, 0], [8, 4])


# --- bad input -----------------------------------------------------------


@pytest.mark.parametrize('expected', [False, True])
def test_invisible_out_of_map_and_nan_get_weight_zero(expected):
    codec = build(expected=expected)
    u = np.array([
        [10.5, 10.5],  # valid, visible
        [10.5, 10.5],  # invisible
        [-0.1, 5.],  # left of the first cell centre
        [63.2, 5.],  # in the last half cell: ceil would leave the map
        [5., 63.6],  # beyond the map
        [np.nan, 5.],
        [5., np.inf],
        [1e30, -1e30],
        [63., 0.],  # exactly on the last cell centre: valid
    ])
    vis = np.array([1, 0, 1, 1, 1, 1, 1, 1, 1], float)
    vis_nan = vis.copy()
    vis_nan[0] = np.nan
    for v, w0 in ((vis, 1), (vis_nan, 0)):
        enc = codec.encode((u * S)[None], v[None])
        w = enc['keypoint_weights']
        assert w.shape == (1, 9) and w.dtype == np.float32
        np.testing.assert_array_equal(w[0], [w0, 0, 0, 0, 0, 0, 0, 0, 1])
        sums = enc['heatmaps'].reshape(9, -1).sum(axis=1)
        np.testing.assert_allclose(sums, w[0], atol=1e-6)
        assert enc['heatmaps'][8, 0, 63] == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(), st.floats()), min_size=1, max_size=6),
       st.booleans())
def test_any_float_input_never_raises(xys, expected):
    codec = build(input_size=(32, 32), heatmap_size=(8, 8), expected=expected)
    enc = codec.encode(np.array(xys, dtype=np.float64)[None], None)
    w = enc['keypoint_weights'][0]
    assert set(np.unique(w)) <= {0., 1.}
    np.testing.assert_allclose(enc['heatmaps'].reshape(len(xys), -1).sum(1),
                               w, atol=1e-6)
    assert np.isfinite(enc['heatmaps']).all()


@pytest.mark.parametrize('topk', [0, -1, 64 * 64 + 1, 2.5, None])
def test_bad_topk_is_a_build_time_error(topk):
    with pytest.raises(ValueError, match='topk'):
        build(topk=topk)


def test_topk_may_cover_the_whole_map():
    codec = build(input_size=(16, 16), heatmap_size=(4, 4), topk=16)
    kp, _ = codec.decode(np.zeros((1, 4, 4)))
    np.testing.assert_allclose(kp[0, 0], [6, 6])  # mean cell 1.5, times 4


def test_non_dividing_sizes_are_a_build_time_error():
    with pytest.raises(ValueError, match='must divide input_size'):
        build(input_size=(256, 256), heatmap_size=(60, 60))
