"""HIH's local CSC read-out (decimal_mode='local') and the paper's mode.

The flip test of both modes is in test_hih_model.py."""
import numpy as np
import pytest
import torch
from conftest import fixture_dir, run_tool
from mmengine.registry import init_default_scope
from mmpose.registry import KEYPOINT_CODECS, MODELS
from test_hih_head import samples, tiny_codec, tiny_model
from tool_options import read_scalars, tiny_overrides

import hih_plugin  # noqa: F401
from hih_plugin.models.heads.hih.integer import (argmax_cells,
                                                 blurred_argmax_cells,
                                                 softmax_maps)
from hih_plugin.models.heads.hih.neighbours import neighbour_cells
from hih_plugin.models.heads.hih_head import LocalDecimalReadout

init_default_scope('mmpose')


def single_feature_head(K=3, bins='separable', readout_cells='auto',
                        neighbour_votes=False, **codec):
    """A local-mode head on a given 8-channel, heatmap-sized feature, with
    the earlier read-out's MSE map and decimal weight."""
    return MODELS.build(
        dict(type='HIHHead', in_channels=8, out_channels=K,
             decimal_mode='local', decimal_bins=bins, decimal_channels=8,
             readout_cells=readout_cells, neighbour_votes=neighbour_votes,
             loss=dict(type='KeypointMSELoss', use_target_weight=True),
             decimal_loss=dict(type='DistributionLoss', loss_weight=0.05),
             decoder=tiny_codec(**codec)))


def test_unknown_modes_fail_at_build_naming_the_choices():
    with pytest.raises(ValueError, match="'global', 'local'"):
        tiny_model(decimal_mode='nearby')
    with pytest.raises(ValueError, match="'separable', 'joint'"):
        tiny_model(decimal_mode='local', decimal_bins='diagonal')
    with pytest.raises(ValueError, match="'mean', 'sum'"):
        tiny_model(stack_loss='max')


def test_local_mode_needs_no_downsampling_room():
    """The global branch needs heatmaps of at least 2d; local mode reads
    one cell and works on any heatmap (here 8x8 heatmaps, d = 8)."""
    codec = tiny_codec(input_size=(32, 32), heatmap_size=(8, 8),
                       decimal_size=8)
    with pytest.raises(ValueError, match='twice'):
        tiny_model(codec=codec)
    model = tiny_model(codec=codec, decimal_mode='local')
    heatmaps, logits = model.head(model.extract_feat(torch.rand(2, 3, 32,
                                                                32)))
    assert logits.shape == (2, 4, 8, 8)


@pytest.mark.parametrize('bins', ['separable', 'joint'])
def test_readout_equals_a_3x3_conv_evaluated_at_the_cell(bins):
    """Gathering 3x3 patches must compute exactly the dense 3x3 conv (zero
    padded) at each cell, borders included."""
    torch.manual_seed(0)
    r = LocalDecimalReadout(5, 6, num_keypoints=4, decimal_size=4, bins=bins)
    r.init_weights(std=0.1)
    r.eval()
    with torch.no_grad():
        r.norm.running_mean.uniform_(-1, 1)
        r.norm.running_var.uniform_(0.5, 2)
    feature = torch.randn(2, 5, 7, 9)
    cells = torch.tensor([[[0, 0], [8, 6], [3, 2], [8, 0]],
                          [[4, 6], [0, 3], [5, 5], [1, 1]]])
    with torch.no_grad():
        out = r(feature, cells)
        dense = torch.nn.functional.conv2d(
            feature, r.conv.weight.view(6, 5, 3, 3), padding=1)
        b = torch.arange(2)[:, None]
        h = dense[b, :, cells[..., 1], cells[..., 0]]  # (B, K, C)
        h = torch.relu(r.norm(h.reshape(8, 6))).view(2, 4, 6)
        logits = torch.einsum('bkc,kco->bko', h, r.weight) + r.bias
        if bins == 'separable':
            expected = logits[..., 4:, None] + logits[..., None, :4]
        else:
            expected = logits.view(2, 4, 4, 4)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # M cells per keypoint (the neighbours) read each as a cell of its own
    near = torch.stack([cells, cells.flip(0), cells.roll(1, 1)], 2)
    with torch.no_grad():
        out = r(feature, near)
        for m in range(3):
            torch.testing.assert_close(out[:, :, m], r(feature, near[:, :, m]))


def test_separable_softmax_is_the_product_of_axis_softmaxes():
    """Separable logits give p(x, y) = p(x) p(y), the form of the codec's
    Gaussian label, so the KL is exact with 2d instead of d^2 outputs."""
    torch.manual_seed(0)
    r = LocalDecimalReadout(4, 8, num_keypoints=2, decimal_size=8)
    r.init_weights(std=0.5)
    with torch.no_grad():
        logits = r.eval()(torch.randn(1, 4, 6, 6), torch.ones(1, 2, 2))
    p = logits.flatten(2).softmax(-1).view_as(logits)
    outer = p.sum(-1)[..., :, None] * p.sum(-2)[..., None, :]
    torch.testing.assert_close(p, outer, rtol=1e-5, atol=1e-6)


def test_training_reads_the_ground_truth_cell_not_the_predicted_one():
    """A head whose heatmap argmax is wrong still gets the decimal loss of
    the true cells."""
    torch.manual_seed(0)
    head = single_feature_head()
    head.init_weights()
    head.decimal_readout.init_weights(std=1.)  # cell-dependent logits
    codec = KEYPOINT_CODECS.build(tiny_codec())
    truth = np.array([[[10.3, 20.7], [40.2, 50.9], [60.1, 5.4]]], np.float32)
    data = samples(tiny_codec(), truth, [0, 1, 2])
    feature = torch.randn(1, 8, 16, 16)
    # the head's own heatmap conv has its argmax somewhere else
    with torch.no_grad():
        head.heatmap_layers.bias.copy_(torch.tensor([5., 5., 5.]))
        head.heatmap_layers.weight.zero_()
        head.heatmap_layers.weight[:, 0, 0, 0] = 1.
    heatmaps, _ = head((feature, ))
    predicted = argmax_cells(heatmaps[-1])
    true_cells = torch.from_numpy(codec.encode(truth)['keypoint_cells']).long()
    assert (predicted != true_cells).any(-1).all()

    head.train()
    loss = head.loss((feature, ), data, dict(compute_acc=False))
    target = data[0].gt_instance_labels
    expected_at = {}
    for name, cells in (('true', true_cells), ('predicted', predicted)):
        logits = head.decimal_readout(feature, cells)
        expected_at[name] = head.decimal_loss_module(
            logits, target.decimal_heatmaps, target.keypoint_weights)
    assert loss['loss_decimal'].item() == pytest.approx(
        expected_at['true'].item(), rel=1e-5)
    assert loss['loss_decimal'].item() != pytest.approx(
        expected_at['predicted'].item(), rel=0.05)


def test_local_mode_without_cell_labels_names_the_fix():
    head = single_feature_head()
    data = samples(tiny_codec(), np.full((1, 3, 2), 30., np.float32),
                   [0, 1, 2])
    del data[0].gt_instance_labels.keypoint_cells
    with pytest.raises(ValueError, match='keypoint_cells'):
        head.loss((torch.randn(1, 8, 16, 16), ), data)


def test_batch_decode_equals_decode_on_local_outputs():
    torch.manual_seed(0)
    model = tiny_model(K=5, decimal_mode='local')
    model.head.decimal_readout.init_weights(std=0.3)
    model.eval()
    with torch.no_grad():
        heatmaps, logits = model.head(model.extract_feat(
            torch.rand(6, 3, 64, 64)))
    probs = softmax_maps(logits)
    codec = model.head.decoder
    for mode in ('argmax', 'expectation'):
        codec.decode_mode = mode
        kpts, scores = codec.batch_decode(heatmaps[-1], probs)
        for b in range(6):
            k, s = codec.decode(heatmaps[-1][b].numpy(), probs[b].numpy())
            np.testing.assert_allclose(kpts[b], k, atol=1e-4)
            np.testing.assert_allclose(scores[b], s, atol=1e-6)


@pytest.mark.parametrize('stack_loss', ['mean', 'sum'])
def test_stack_reduction_equals_the_official_formula(stack_loss):
    """The official heatmap loss is one nn.MSELoss over the stacked
    (N, S, K, H, W) tensors, i.e. the mean over stacks."""
    torch.manual_seed(0)
    model = tiny_model(K=4, stacks=2, stack_loss=stack_loss)
    rng = np.random.default_rng(0)
    kpts = rng.uniform(4, 60, size=(2, 4, 2)).astype(np.float32)
    data = samples(tiny_codec(), kpts, [1, 0, 3, 2])
    img = torch.rand(2, 3, 64, 64)
    feats = model.extract_feat(img)
    loss = model.head.loss(feats, data, dict(compute_acc=False))['loss_kpt']
    stacked = torch.stack(list(feats[:-1]), 1)  # (N, S, K, H, W)
    gt = torch.stack([d.gt_fields.heatmaps for d in data])
    official = torch.nn.MSELoss()(stacked, gt[:, None].expand_as(stacked))
    scale = 1 if stack_loss == 'mean' else 2
    assert loss.item() == pytest.approx(scale * official.item(), rel=1e-5)


ONE_CELL = [
    'model.head.readout_cells=truth', 'model.head.neighbour_votes=False',
    'model.head.decoder.decimal_span=1',
    'model.head.decoder.decimal_size=8',
    'train_dataloader.dataset.pipeline.7.encoder.decimal_span=1',
    'train_dataloader.dataset.pipeline.7.encoder.decimal_size=8'
]


# The 3-cell read-outs learn 9 cells' offsets (or a random one's) instead of
# one: over 20 iterations their decimal loss falls 4-8%, as much as the
# paper's untrained branch drifts, so they get 60 (30 epochs of 2).
LONGER = ['train_cfg.max_epochs=30', 'train_cfg.val_interval=30']


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize('variant', [
    LONGER,  # the config's: 3-cell bins trained at the neighbours
    LONGER + ['model.head.readout_cells=jitter',
              'model.head.neighbour_votes=True'],
    ONE_CELL,  # the read-out trained at the true cell only
])
def test_local_mode_trains_on_wflw_fixture_and_decimal_loss_falls(
        tmp_path, variant):
    root = fixture_dir('wflw')
    work_dir = str(tmp_path / 'work')
    run_tool('train.py', 'configs/hih-local_wflw.py', '--work-dir', work_dir,
             '--cfg-options', *tiny_overrides(root), *variant,
             env={'OMP_NUM_THREADS': '1'})
    train = [r for r in read_scalars(work_dir) if 'loss' in r]
    decimal = [r['loss_decimal'] for r in train]
    # 20 iterations of a 16-channel model: the paper's branch stays at the
    # uniform-prediction level (0.00129, falling about 5%) over such a run
    assert np.mean(decimal[-4:]) < 0.85 * np.mean(decimal[:4]), decimal


def span3_head(K=2, **head):
    """A neighbour-trained local head on a given 8-channel feature."""
    return single_feature_head(
        K=K, decimal_size=12, decimal_span=3, **head)


def test_neighbour_loss_is_the_weighted_loss_of_the_3x3_cells():
    """readout_cells='neighbours' trains at the 9 cells around the true one,
    each against the label of the landmark's offset from that cell, weighted
    by the integer Gaussian there (mean weight 1 per landmark)."""
    torch.manual_seed(0)
    head = span3_head(K=3)
    head.init_weights()
    head.decimal_readout.init_weights(std=1.)
    truth = np.array([[[10.3, 20.7], [0.9, 50.9], [60.1, 61.4]]], np.float32)
    codec = KEYPOINT_CODECS.build(tiny_codec(decimal_size=12,
                                             decimal_span=3))
    data = samples(tiny_codec(decimal_size=12, decimal_span=3), truth,
                   [0, 1, 2])
    feature = torch.randn(1, 8, 16, 16)
    head.eval()  # BN on running statistics, so that cells add up one by one
    loss = head.loss((feature, ), data, dict(compute_acc=False))
    enc = codec.encode(truth)
    expected, total = 0., 0
    for k in range(3):
        cell = enc['keypoint_cells'][0, k]
        near = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if 0 <= cell[0] + dx < 16 and 0 <= cell[1] + dy < 16]
        g = np.array([np.exp(-(dx**2 + dy**2) / (2 * 1.5**2))
                      for dx, dy in near])
        for (dx, dy), w in zip(near, 9 * g / g.sum()):
            # Gaussian (sigma 1 bin = 1/4 cell) over the bin centres of the
            # 3 cells around cell + (dx, dy), at the point's offset there
            centres = -1.5 + (np.arange(12) + 0.5) / 4
            off = truth[0, k] / 4 - cell - (dx, dy)
            gx, gy = (np.exp(-(centres - o)**2 / (2 * 0.25**2)) for o in off)
            label = torch.from_numpy(np.outer(gy, gx) /
                                     np.outer(gy, gx).sum())[None, None]
            c = torch.from_numpy(enc['keypoint_cells'] + (dx, dy)).long()
            logits = head.decimal_readout(feature, c)  # keypoint k's layer
            expected += w * head.decimal_loss_module(
                logits[:, k:k + 1], label, torch.ones(1, 1)).item()
        total += 9
    # float32 logits and labels against a float64 label
    assert loss['loss_decimal'].item() == pytest.approx(
        expected / total, rel=2e-3)


def test_separable_distribution_loss_equals_the_joint_one():
    loss = MODELS.build(dict(type='DistributionLoss', loss_weight=0.05))
    axes = torch.randn(2, 3, 2, 6)
    target = torch.rand(2, 3, 2, 6)
    target = target / target.sum(-1, keepdim=True)
    w = torch.rand(2, 3)
    joint = loss(axes[..., 1, :, None] + axes[..., 0, None, :],
                 target[..., 1, :, None] * target[..., 0, None, :], w)
    assert loss.separable(axes, target, w).item() == pytest.approx(
        joint.item(), rel=1e-5)
    with pytest.raises(ValueError, match='B, K, 2, d'):
        loss.separable(axes, target[..., :5], w)


def offset_feature(truth, size=16, stride=4):
    """Features that hold, at each cell, the offset of every landmark from
    that cell (what a backbone has to provide for a read-out to correct a
    wrong cell), plus noise channels."""
    B, K, _ = truth.shape
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size),
                                      indexing='xy'), 0).float()  # (2, H, W)
    u = torch.as_tensor(truth / stride, dtype=torch.float32)
    # (B, K, 2, H, W), clipped: only the cells near a landmark need it
    offsets = (u[..., None, None] - grid).clamp(-2, 2)
    return torch.cat([offsets.flatten(1, 2),
                      0.1 * torch.randn(B, 2, size, size)], 1)


@pytest.mark.parametrize('readout, span', [('truth', 1), ('neighbours', 3),
                                           ('jitter', 3)])
def test_readout_recovers_an_argmax_one_cell_off(readout, span):
    """Train only the read-out on features that know where each landmark
    is, then decode at an argmax one cell right of the true cell. The
    3-cell read-out trained around the true cell lands near the truth; the
    one-cell read-out cannot leave the wrong cell."""
    torch.manual_seed(0)
    K, d = 2, 4 * span
    codec_cfg = tiny_codec(decimal_size=d, decimal_span=span)
    head = MODELS.build(
        dict(type='HIHHead', in_channels=2 * K + 2, out_channels=K,
             decimal_mode='local', decimal_channels=16, readout_cells=readout,
             decoder=codec_cfg,
             decimal_loss=dict(type='DistributionLoss', loss_weight=1.)))
    head.init_weights()
    readout_params = list(head.decimal_readout.parameters())
    optim = torch.optim.Adam(readout_params, lr=0.02)
    rng = np.random.default_rng(0)
    head.train()
    for _ in range(200):
        truth = rng.uniform(8, 56, (16, K, 2)).astype(np.float32)
        data = samples(codec_cfg, truth, list(range(K)))
        loss = head.loss((offset_feature(truth), ), data,
                         dict(compute_acc=False))['loss_decimal']
        optim.zero_grad()
        loss.backward()
        optim.step()
    head.eval()
    truth = rng.uniform(8, 56, (32, K, 2)).astype(np.float32)
    cells = torch.from_numpy(np.floor(truth / 4 + 0.5)).long()
    wrong = cells + torch.tensor([1, 0])  # one cell right of the truth
    with torch.no_grad():
        probs = softmax_maps(
            head.decimal_readout(offset_feature(truth), wrong))
    heatmaps = torch.zeros(32, K, 16, 16)
    b, k = torch.meshgrid(torch.arange(32), torch.arange(K), indexing='ij')
    heatmaps[b, k, wrong[..., 1], wrong[..., 0]] = 1.
    kpts, _ = head.decoder.batch_decode(heatmaps, probs)
    pred = np.stack(kpts)[:, 0] / 4
    nearest = np.floor(pred + 0.5)
    if span == 1:  # stuck in the wrong cell, whatever the read-out learnt
        assert (nearest == wrong.numpy()).all()
    else:
        # 200 steps: most, not all, are learnt (0.81 and 0.88 measured)
        assert (nearest == cells.numpy()).all(-1).mean() > 0.75
        assert np.median(np.abs(pred - truth / 4).max(-1)) < 0.25


def test_votes_are_the_weighted_mean_of_the_neighbour_decodes():
    codec = KEYPOINT_CODECS.build(tiny_codec(decimal_size=12,
                                             decimal_span=3))
    rng = np.random.default_rng(0)
    heatmaps = torch.rand(2, 3, 16, 16)
    probs = torch.rand(2, 3, 4, 12, 12)
    cells = torch.from_numpy(rng.integers(0, 16, (2, 3, 4, 2)))
    weights = torch.rand(2, 3, 4)
    kpts, scores = codec.batch_decode(heatmaps, probs, cells, weights)
    # each vote alone is an ordinary decode at that cell
    single = np.stack([
        np.stack(codec.batch_decode(heatmaps, probs[:, :, m:m + 1],
                                    cells[:, :, m:m + 1])[0])[:, 0]
        for m in range(4)
    ], 2)  # (B, K, M, 2)
    w = weights.numpy()[..., None]
    np.testing.assert_allclose(np.stack(kpts)[:, 0],
                               (single * w).sum(2) / w.sum(2), atol=1e-4)
    np.testing.assert_allclose(np.stack(scores)[:, 0],
                               heatmaps.flatten(2).max(-1).values.numpy())
    # one vote at the argmax cell is the plain decode
    idx = heatmaps.flatten(2).argmax(-1)
    at_max = torch.stack([idx % 16, idx // 16], -1)[:, :, None]
    np.testing.assert_allclose(
        np.stack(codec.batch_decode(heatmaps, probs[:, :, :1], at_max)[0]),
        np.stack(codec.batch_decode(heatmaps, probs[:, :, 0])[0]))


def test_readout_options_that_cannot_work_fail_at_build():
    with pytest.raises(ValueError, match='decimal_span >= 3'):
        single_feature_head(readout_cells='neighbours')
    with pytest.raises(ValueError, match='neighbour_votes'):
        single_feature_head(neighbour_votes=True)
    with pytest.raises(ValueError, match="'auto', 'truth'"):
        span3_head(readout_cells='everywhere')
    with pytest.raises(ValueError, match='odd'):
        KEYPOINT_CODECS.build(tiny_codec(decimal_span=2))
    with pytest.raises(ValueError, match='unbiased'):
        KEYPOINT_CODECS.build(tiny_codec(decimal_span=3,
                                         convention='official'))


def logit_head(mode='bce', **head):
    """A span-3 local head whose integer maps are H3RLoss logits."""
    return MODELS.build(
        dict(type='HIHHead', in_channels=8, out_channels=3,
             decimal_mode='local', decimal_channels=8,
             decoder=tiny_codec(decimal_size=12, decimal_span=3),
             loss=dict(type='H3RLoss', mode=mode), **head))


def seeded_logit_head(mode='bce', **head):
    """A :func:`logit_head` initialised with seed 0, in eval mode, and a
    random feature (2, 8, 16, 16) drawn right after it."""
    torch.manual_seed(0)
    built = logit_head(mode, **head)
    built.init_weights()
    built.eval()
    return built, torch.randn(2, 8, 16, 16)


def test_bce_maps_start_at_the_foreground_prior():
    """Freshly initialised maps are the logit of a 1 / (H * W) prior, for a
    single-feature backbone and a stacked one alike (every stack)."""
    torch.manual_seed(0)
    W, H = 16, 16
    prior = -np.log(W * H - 1)
    head = logit_head()
    head.init_weights()
    stacked = tiny_model(K=4, codec=tiny_codec(), decimal_mode='local',
                         loss=dict(type='H3RLoss', mode='bce'))
    stacked.init_weights()
    with torch.no_grad():
        maps, _ = head((torch.randn(2, 8, H, W), ))
        maps_stacked, _ = stacked.head(
            stacked.extract_feat(torch.rand(2, 3, 64, 64)))
    assert len(maps_stacked) == 2
    for hm in maps + maps_stacked:
        assert hm.shape[-2:] == (H, W)
        assert (hm - prior).abs().max() < 0.05
    # MSE maps are regressed from 0; a softmax is shift-invariant
    for other in (span3_head(K=3), logit_head('softmax')):
        other.init_weights()
        with torch.no_grad():
            maps, _ = other((torch.randn(2, 8, H, W), ))
        assert maps[0].abs().max() < 0.05


@pytest.mark.parametrize('mode, act', [
    ('bce', torch.sigmoid),
    ('softmax', lambda x: x.flatten(-2).softmax(-1).view_as(x))])
@pytest.mark.parametrize('votes, power', [(False, 1.), (True, 1.),
                                          (True, 3.)])
def test_logit_maps_decode_score_and_vote_with_their_probabilities(
        mode, act, votes, power):
    """Scores, vote weights (to ``vote_power``) and output heatmaps are
    the probabilities of the logits; the cells are the logits' argmax."""
    head, feature = seeded_logit_head(mode, neighbour_votes=votes,
                                      vote_power=power)
    data = samples(tiny_codec(decimal_size=12, decimal_span=3),
                   np.full((2, 3, 2), 30., np.float32), [0, 1, 2])
    with torch.no_grad():
        preds, fields = head.predict((feature, ), data,
                                     dict(output_heatmaps=True))
        maps = act(head._heatmaps_and_feature((feature, ))[0][-1])
        cells = argmax_cells(maps)
        if votes:
            delta, near, inside = neighbour_cells(cells, 3, (16, 16))
            at = near[..., 1].clamp(0, 15) * 16 + near[..., 0].clamp(0, 15)
            weights = (maps.flatten(2).gather(2, at) * inside)**power + \
                1e-6 * (delta == 0).all(-1)
            probs = softmax_maps(head.decimal_readout(feature, near))
            kpts, scores = head.decoder.batch_decode(maps, probs, near,
                                                     weights)
        else:
            probs = softmax_maps(head.decimal_readout(feature, cells))
            kpts, scores = head.decoder.batch_decode(maps, probs)
    for p, f, k, s, m in zip(preds, fields, kpts, scores, maps):
        np.testing.assert_allclose(p.keypoints, k, atol=1e-4)
        np.testing.assert_allclose(p.keypoint_scores, s, rtol=1e-5)
        assert ((0 < s) & (s < 1)).all()
        torch.testing.assert_close(f.heatmaps, m)


def test_a_high_vote_power_leaves_the_argmax_cell_alone():
    """The larger vote_power, the less a lower neighbour counts: in the
    limit the votes decode as the argmax cell alone does."""
    head, feature = seeded_logit_head(neighbour_votes=True, vote_power=1e3)
    with torch.no_grad():
        voted = head.decode_tensors((feature, ))[0]
        head.neighbour_votes = False
        alone = head.decode_tensors((feature, ))[0]
        head.neighbour_votes, head.vote_power = True, 1.
        plain = head.decode_tensors((feature, ))[0]
    torch.testing.assert_close(voted, alone)
    assert (plain - alone).abs().max() > 1e-2  # the votes did move it
    with pytest.raises(ValueError, match='vote_power'):
        logit_head(neighbour_votes=True, vote_power=0.)


def test_blurred_argmax_picks_the_broad_mode_over_a_stray_peak():
    """A single tall cell beside a broad, slightly lower mode: the plain
    argmax takes the peak, the blurred one the mode; sigma 0 is the plain
    argmax."""
    yy, xx = torch.meshgrid(torch.arange(16.), torch.arange(16.),
                            indexing='ij')
    scores = 0.8 * torch.exp(-((xx - 4)**2 + (yy - 5)**2) / 8.)
    scores[12, 11] = 0.9  # x 11, y 12
    scores = scores.expand(2, 3, 16, 16)
    assert argmax_cells(scores)[0, 0].tolist() == [11, 12]
    assert blurred_argmax_cells(scores, 1.5)[0, 0].tolist() == [4, 5]
    torch.testing.assert_close(blurred_argmax_cells(scores, 0.),
                               argmax_cells(scores))


@pytest.mark.parametrize('sigma', [0.5, 1., 2.])
def test_blurred_argmax_is_the_argmax_of_the_2d_gaussian_convolution(sigma):
    """The separable blur equals the 2-D Gaussian (cut at 3 sigma, zeros
    past the border) applied cell by cell."""
    rng = np.random.default_rng(int(sigma * 10))
    scores = rng.random((2, 3, 9, 7)) ** 4
    r = int(3 * sigma)
    padded = np.pad(scores, ((0, 0), (0, 0), (r, r), (r, r)))
    t = np.arange(-r, r + 1)
    g = np.exp(-(t[:, None]**2 + t[None]**2) / (2 * sigma**2))
    blurred = np.zeros_like(scores)
    for y in range(9):
        for x in range(7):
            blurred[..., y, x] = (padded[..., y:y + 2 * r + 1,
                                         x:x + 2 * r + 1] * g).sum((-2, -1))
    flat = blurred.reshape(2, 3, -1).argmax(-1)
    want = np.stack([flat % 7, flat // 7], -1)
    got = blurred_argmax_cells(torch.from_numpy(scores), sigma)
    np.testing.assert_array_equal(got.numpy(), want)


def test_argmax_blur_decodes_at_the_blurred_cell():
    """A head with argmax_blur reads its votes around the blurred argmax;
    the option needs the votes and a sigma >= 0."""
    head, feature = seeded_logit_head(neighbour_votes=True, argmax_blur=1.5)
    with torch.no_grad():
        _, _, near, _ = head._view_maps((feature, ))
        scores = head.integer.probs(head.forward((feature, ))[0][-1])
    centre = near.shape[2] // 2
    torch.testing.assert_close(near[:, :, centre],
                               blurred_argmax_cells(scores, 1.5))
    assert (near[:, :, centre] != argmax_cells(scores)).any()
    with pytest.raises(ValueError, match='argmax_blur'):
        logit_head(neighbour_votes=True, argmax_blur=-1.)
    with pytest.raises(ValueError, match='neighbour votes'):
        logit_head(neighbour_votes=False, argmax_blur=1.)
