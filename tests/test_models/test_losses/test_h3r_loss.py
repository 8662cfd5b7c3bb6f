"""H3RLoss: per-pixel BCE (default) and spatial softmax CE."""
import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401  registers H3RLoss


def one_hot_batch(B=2, K=3, H=5, W=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.zeros(B, K, H, W)
    cells = torch.randint(0, H * W, (B, K), generator=g)
    target.view(B, K, -1).scatter_(2, cells[..., None], 1.)
    logits = torch.randn(B, K, H, W, generator=g)
    return logits, target, cells


def test_bce_is_per_pixel_bce_with_logits():
    logits, target, _ = one_hot_batch()
    loss = MODELS.build(dict(type='H3RLoss'))
    weights = torch.ones(2, 3)
    expected = F.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(loss(logits, target, weights), expected)
    assert MODELS.build(dict(type='H3RLoss', loss_weight=3.))(
        logits, target, weights) == pytest.approx(3 * expected.item())


def test_softmax_is_spatial_cross_entropy():
    logits, target, cells = one_hot_batch()
    loss = MODELS.build(dict(type='H3RLoss', mode='softmax'))
    expected = F.cross_entropy(logits.flatten(2).transpose(1, 2), cells)
    torch.testing.assert_close(
        loss(logits, target, torch.ones(2, 3)), expected)


def test_softmax_weight_adds_the_spatial_term_at_the_bce_scale():
    logits, target, cells = one_hot_batch()
    weights = torch.tensor([[1., 0.5, 0.], [1., 1., 2.]])
    loss = MODELS.build(dict(type='H3RLoss', softmax_weight=3.))
    bce = F.binary_cross_entropy_with_logits(
        logits, target, reduction='none').mean((2, 3))
    ce = F.cross_entropy(logits.flatten(2).transpose(1, 2), cells,
                         reduction='none')
    expected = ((bce + 3. / 30 * ce) * weights).mean()
    torch.testing.assert_close(loss(logits, target, weights), expected)


def test_softmax_weight_takes_an_empty_batch():
    logits, target = torch.zeros(0, 3, 5, 6), torch.zeros(0, 3, 5, 6)
    loss = MODELS.build(dict(type='H3RLoss', softmax_weight=1.))
    plain = MODELS.build(dict(type='H3RLoss'))
    torch.testing.assert_close(loss(logits, target, torch.ones(0, 3)),
                               plain(logits, target, torch.ones(0, 3)),
                               equal_nan=True)


@pytest.mark.parametrize('cfg', [dict(softmax_weight=-1.),
                                 dict(mode='softmax', softmax_weight=1.)])
def test_softmax_weight_is_checked(cfg):
    with pytest.raises(ValueError, match='softmax_weight'):
        MODELS.build(dict(type='H3RLoss', **cfg))


@pytest.mark.parametrize('cfg', [dict(mode='bce'), dict(mode='softmax'),
                                 dict(mode='bce', softmax_weight=1.)])
def test_zero_weight_keypoints_do_not_train(cfg):
    logits, target, _ = one_hot_batch()
    target[0, 1] = 0  # an invisible keypoint has an empty target channel
    weights = torch.ones(2, 3)
    weights[0, 1] = 0
    logits.requires_grad_(True)
    loss = MODELS.build(dict(type='H3RLoss', **cfg))(
        logits, target, weights)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.all(logits.grad[0, 1] == 0)
    assert torch.any(logits.grad[0, 0] != 0)


@pytest.mark.parametrize('mode', ['bce', 'softmax'])
def test_gradient_raises_the_target_cell(mode):
    logits, target, _ = one_hot_batch()
    logits.requires_grad_(True)
    MODELS.build(dict(type='H3RLoss', mode=mode))(
        logits, target, torch.ones(2, 3)).backward()
    assert torch.all(logits.grad[target.bool()] < 0)


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode='bce'"):
        MODELS.build(dict(type='H3RLoss', mode='mse'))
