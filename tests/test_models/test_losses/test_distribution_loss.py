"""DistributionLoss: HIH's KL divergence on the decimal heatmaps."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401

init_default_scope('mmpose')


def test_distribution_loss():
    loss = MODELS.build(dict(type='DistributionLoss', loss_weight=0.05))
    target = torch.rand(2, 3, 4, 4)
    target = target / target.sum((-2, -1), keepdim=True)
    w = torch.ones(2, 3)
    assert loss(target.log(), target, w).abs() < 1e-6
    logits = torch.randn(2, 3, 4, 4)
    full = loss(logits, target, w)
    assert full > 0
    # KL per keypoint / 16 bins, mean over 6 keypoints, times 0.05
    kl = (target * (target.log() - logits.flatten(2).log_softmax(-1)
                    .view_as(logits))).sum((-2, -1))
    assert full == pytest.approx(0.05 * kl.mean().item() / 16, rel=1e-4)
    w[0] = 0
    assert loss(logits, target, w) == pytest.approx(
        0.05 * kl[1].sum().item() / 16 / 6, rel=1e-4)
