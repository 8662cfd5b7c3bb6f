"""One decode path per codec: ``decode`` (numpy, one instance),
``batch_decode`` (torch, a batch) and the ONNX graph's decoding agree with
each other and with a plain numpy statement of the rules, on maps with
ties, NaN, +inf and -inf."""
import warnings
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmpose.registry import KEYPOINT_CODECS

import hih_plugin  # noqa: F401  registers the codecs

# Few distinct values make ties likely; the non-finite ones must decode to
# NaN with score 0 wherever they spoil a map.
VALUES = [-1., 0., 0.5, 2.]
NON_FINITE = [np.nan, np.inf, -np.inf]


def hih(W, H, **kwargs):
    return KEYPOINT_CODECS.build(
        dict(type='HIHHeatmap', input_size=(4 * W, 8 * H),
             heatmap_size=(W, H), **kwargs))


@st.composite
def maps(draw, shape, non_finite=True, rows=tuple(NON_FINITE)):
    """Float arrays from a few values, with whole rows of one of ``rows``
    and single non-finite cells mixed in."""
    pool = VALUES + (NON_FINITE if non_finite else [])
    size = int(np.prod(shape))
    cells = draw(st.lists(st.sampled_from(VALUES), min_size=size,
                          max_size=size))
    a = np.array(cells).reshape(shape)
    if non_finite:
        flat = a.reshape(-1, shape[-2] * shape[-1])
        for r in range(len(flat)):
            kind = draw(st.sampled_from(['finite', 'cell', 'row']))
            if kind == 'cell':
                flat[r, draw(st.integers(0, flat.shape[1] - 1))] = \
                    draw(st.sampled_from(pool))
            elif kind == 'row':
                flat[r] = draw(st.sampled_from(rows))
    return a


def reference_hih(codec, heatmaps, decimal):
    """HIHHeatmap's rules in numpy, for one instance: argmax cell (first
    maximum) plus the offset of the decimal argmax bin or the mean bin;
    NaN and score 0 where either map holds NaN or +inf, or no finite
    cell."""
    K, H, W = heatmaps.shape
    d = codec.decimal_size
    flat = heatmaps.reshape(K, -1)
    dflat = decimal.reshape(K, -1).astype(np.float64)
    with np.errstate(invalid='ignore'):
        bad = ~(np.isfinite(flat.max(-1)) & np.isfinite(dflat.max(-1)))
    idx = flat.argmax(-1)
    cell = np.stack([idx % W, idx // W], -1)
    if codec.decode_mode == 'argmax':
        didx = dflat.argmax(-1)
        bins = np.stack([didx % d, didx // d], -1).astype(np.float64)
    else:
        p = np.clip(decimal.astype(np.float64), 0, None)
        with np.errstate(invalid='ignore'):
            p = p / np.maximum(p.sum((-2, -1), keepdims=True), 1e-12)
        j = np.arange(d)
        bins = np.stack([(p.sum(-2) * j).sum(-1),
                         (p.sum(-1) * j).sum(-1)], -1)
    if codec.convention == 'official':
        offset = bins / d
    else:
        span = codec.decimal_span
        offset = (bins + 0.5) * span / d - span / 2
    kpts = (cell + offset) * codec.scale_factor
    kpts[bad] = np.nan
    return kpts, np.where(bad, 0, flat.max(-1))


@st.composite
def hih_cases(draw):
    B, K = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    d = draw(st.sampled_from([2, 3, 4]))
    kwargs = draw(st.sampled_from([
        dict(), dict(decode_mode='expectation'),
        dict(convention='official'), dict(decimal_span=3),
        dict(decimal_span=3, decode_mode='expectation')]))
    heatmaps = draw(maps((B, K, H, W)))
    decimal = draw(maps((B, K, d, d)))
    return hih(W, H, decimal_size=d, **kwargs), heatmaps, decimal


@settings(max_examples=150, deadline=None)
@given(hih_cases())
def test_hih_decode_equals_batch_decode_and_the_rules(case):
    codec, heatmaps, decimal = case
    kps, scores = codec.batch_decode(
        torch.from_numpy(heatmaps).float(), torch.from_numpy(decimal).float())
    for b in range(len(heatmaps)):
        kp, score = codec.decode(heatmaps[b].astype(np.float32),
                                 decimal[b].astype(np.float32))
        assert kp.dtype == score.dtype == np.float32
        np.testing.assert_array_equal(kps[b], kp)
        np.testing.assert_array_equal(scores[b], score)
        ref_kp, ref_score = reference_hih(codec, heatmaps[b], decimal[b])
        np.testing.assert_allclose(kp[0], ref_kp, rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(score[0], ref_score)


def test_hih_decode_takes_the_encoders_one_instance_label():
    codec = hih(16, 16, decimal_size=4, decode_mode='expectation')
    enc = codec.encode(np.array([[[10.3, 70.9], [33.3, 5.1]]]))
    one, _ = codec.decode(enc['heatmaps'], enc['decimal_heatmaps'])
    kp, _ = codec.decode(enc['heatmaps'], enc['decimal_heatmaps'][0])
    np.testing.assert_array_equal(one, kp)
    with pytest.raises(ValueError, match=r'\(B, K, d, d\)'):
        codec.decode(enc['heatmaps'], np.zeros((3, 4, 4)))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), M=st.integers(1, 4),
       weighted=st.booleans(), span=st.sampled_from([1, 3]))
def test_hih_votes_are_the_weighted_mean_of_single_decodes(
        data, M, weighted, span):
    """Vote m of ``batch_decode(..., cells, weights)`` is what ``decode``
    reads from a map peaked at cell m with vote m's decimal map."""
    B, K, H, W, d = 2, 2, 5, 6, 4
    codec = hih(W, H, decimal_size=d, decimal_span=span)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    heatmaps = data.draw(maps((B, K, H, W), non_finite=False))
    # A vote map without a finite cell spoils its keypoint only if all
    # votes have none (the maximum over all votes is -inf); leave it out.
    decimal = data.draw(maps((B, K, M, d, d), rows=(np.nan, np.inf)))
    cells = rng.integers(0, (W, H), (B, K, M, 2))
    weights = rng.random((B, K, M)) + 0.1 if weighted else None
    kps, scores = codec.batch_decode(
        torch.from_numpy(heatmaps), torch.from_numpy(decimal),
        torch.from_numpy(cells),
        None if weights is None else torch.from_numpy(weights))
    for b in range(B):
        for k in range(K):
            votes = []
            for m in range(M):
                peak = np.zeros((1, H, W))
                peak[0, cells[b, k, m, 1], cells[b, k, m, 0]] = 1
                votes.append(codec.decode(peak, decimal[b, k, m][None])[0])
            w = np.ones(M) if weights is None else weights[b, k]
            votes = np.concatenate(votes)[:, 0]  # (M, 2)
            if np.isnan(votes).any():
                assert np.isnan(kps[b][0, k]).all() and scores[b][0, k] == 0
                continue
            np.testing.assert_allclose(kps[b][0, k], w @ votes / w.sum(),
                                       rtol=1e-5, atol=1e-4)
            assert scores[b][0, k] == np.float32(heatmaps[b, k].max())


@settings(max_examples=60, deadline=None)
@given(case=hih_cases(), votes=st.integers(0, 3), seed=st.integers(0, 99))
def test_hih_eager_shortcuts_equal_the_traced_arithmetic(case, votes, seed):
    """Eager mode takes the argmax in numpy and reads cells, bin offsets
    and the scale from cached tables; a traced graph computes them with
    torch operators. Run eagerly, both give the same bits, votes (M =
    ``votes``) included; the traced graph itself agrees to float rounding
    (it may keep some constants in float32)."""
    codec, heatmaps, decimal = case
    B, K, H, W = heatmaps.shape
    args = [torch.from_numpy(heatmaps), torch.from_numpy(decimal)]
    if votes:
        rng = np.random.default_rng(seed)
        d = codec.decimal_size
        args[1] = torch.from_numpy(
            rng.choice(VALUES + NON_FINITE, (B, K, votes, d, d)))
        args += [torch.from_numpy(rng.integers(0, (W, H), (B, K, votes, 2))),
                 torch.from_numpy(rng.random((B, K, votes)) + 0.1)]
    eager = codec.decode_tensors(*args)
    with mock.patch('torch.jit.is_tracing', return_value=True):
        computed = codec.decode_tensors(*args)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the tracer's shape warnings
        traced = torch.jit.trace(codec.decode_tensors, tuple(args),
                                 check_trace=False)(*args)
    for e, c, t in zip(eager, computed, traced):
        assert e.dtype == c.dtype == t.dtype
        np.testing.assert_array_equal(e.numpy().view(np.uint8),
                                      c.numpy().view(np.uint8))
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6,
                                   atol=1e-6)


@st.composite
def h3r_cases(draw):
    B, K = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    topk = draw(st.integers(1, H * W))
    codec = KEYPOINT_CODECS.build(
        dict(type='H3RHeatmap', input_size=(4 * W, 2 * H),
             heatmap_size=(W, H), topk=topk))
    return codec, draw(maps((B, K, H, W)))


def reference_h3r(codec, logits):
    """The rule: the softmax-weighted mean of the first ``topk`` cells of a
    stable descending sort; NaN and score 0 for a non-finite map."""
    K, H, W = logits.shape
    kpts, scores = np.full((K, 2), np.nan), np.zeros(K)
    for k, row in enumerate(logits.reshape(K, -1)):
        if not np.isfinite(np.max(row)):
            continue
        order = np.argsort(-row, kind='stable')[:codec.topk]
        p = np.exp(row[order] - row.max())
        kpts[k] = (p @ np.stack([order % W, order // W], -1)) / p.sum()
        scores[k] = 1 / (1 + np.exp(-row.max()))
    return kpts * codec.scale_factor, scores


@settings(max_examples=150, deadline=None)
@given(h3r_cases())
def test_h3r_decode_equals_batch_decode_and_the_rule(case):
    codec, logits = case
    kps64, scores64 = codec.batch_decode(torch.from_numpy(logits))
    kps32, scores32 = codec.batch_decode(torch.from_numpy(logits).float())
    for b in range(len(logits)):
        kp, score = codec.decode(logits[b])
        np.testing.assert_allclose(kps64[b], kp, rtol=1e-12)
        np.testing.assert_allclose(scores64[b], score, rtol=1e-12)
        np.testing.assert_allclose(kps32[b], kp, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(scores32[b], score, rtol=1e-6)
        ref_kp, ref_score = reference_h3r(codec, logits[b])
        np.testing.assert_allclose(kp[0], ref_kp, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(score[0], ref_score, rtol=1e-6)


# --- the exported graph --------------------------------------------------


class _Decoding(torch.nn.Module):
    """A codec's ``decode_tensors`` as a module, for ``torch.onnx``."""

    def __init__(self, codec):
        super().__init__()
        self.codec = codec

    def forward(self, *maps):
        return self.codec.decode_tensors(*maps)


def run_exported(codec, inputs, tmp_path):
    """``codec.decode_tensors`` exported the way tools/deploy does it (the
    TorchScript exporter), run in onnxruntime."""
    ort = pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    path = str(tmp_path / 'decode.onnx')
    names = [f'in{i}' for i in range(len(inputs))]
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns about the shape arithmetic of the decoding
        warnings.simplefilter('ignore')
        torch.onnx.export(_Decoding(codec), tuple(inputs), path,
                          dynamo=False, input_names=names,
                          output_names=['keypoints', 'scores'],
                          opset_version=17)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})


def tied_and_bad(shape, seed):
    """Float32 maps with ties, a NaN, a +inf cell and an all -inf map."""
    rng = np.random.default_rng(seed)
    a = rng.choice(np.float32(VALUES), shape)
    flat = a.reshape(-1, shape[-2] * shape[-1])
    flat[1, 3], flat[2, 0], flat[3] = np.nan, np.inf, -np.inf
    return torch.from_numpy(a)


@pytest.mark.parametrize('kwargs', [
    dict(), dict(decode_mode='expectation'), dict(convention='official'),
    dict(decimal_span=3)])
def test_hih_onnx_graph_equals_batch_decode(kwargs, tmp_path):
    codec = hih(8, 6, decimal_size=4, **kwargs)
    heatmaps = tied_and_bad((2, 5, 6, 8), 0)
    decimal = torch.rand(2, 5, 4, 4,
                         generator=torch.Generator().manual_seed(1))
    decimal[1, 4, 0, 0] = float('nan')
    kps, scores = run_exported(codec, [heatmaps, decimal], tmp_path)
    ref_kps, ref_scores = codec.batch_decode(heatmaps, decimal)
    np.testing.assert_allclose(kps, np.concatenate(ref_kps), atol=1e-4)
    np.testing.assert_array_equal(scores, np.concatenate(ref_scores))
    assert np.isnan(kps).any(-1).sum() == 4


@pytest.mark.parametrize('topk', [1, 4, 9])
def test_h3r_onnx_graph_equals_batch_decode(topk, tmp_path):
    """ONNX TopK puts the lower index first among equal logits: the
    graph keeps the tie rule without the eager fix-up."""
    codec = KEYPOINT_CODECS.build(
        dict(type='H3RHeatmap', input_size=(32, 24), heatmap_size=(8, 6),
             topk=topk))
    logits = tied_and_bad((2, 5, 6, 8), topk)
    kps, scores = run_exported(codec, [logits], tmp_path)
    ref_kps, ref_scores = codec.batch_decode(logits)
    np.testing.assert_allclose(kps, np.concatenate(ref_kps), atol=1e-4)
    np.testing.assert_allclose(scores, np.concatenate(ref_scores),
                               rtol=1e-6)
    assert np.isnan(kps).any(-1).sum() == 3
