"""HIHHourglass: the HIH-T/S/B stack counts and its outputs."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401

init_default_scope('mmpose')


def test_backbone_variants_and_outputs():
    for arch, n in (('HIH-T', 1), ('HIH-S', 2), ('HIH-B', 4)):
        bb = MODELS.build(dict(type='HIHHourglass', arch=arch,
                               num_keypoints=3, feat_channels=8, depth=1))
        assert bb.num_stacks == n
    bb = MODELS.build(dict(type='HIHHourglass', num_stacks=2,
                           num_keypoints=3, feat_channels=8, depth=2))
    outs = bb(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 3, 16, 16)] * 2 + [
        (1, 8, 16, 16)]
    with pytest.raises(ValueError, match='HIH-B'):
        MODELS.build(dict(type='HIHHourglass', arch='HIH-X',
                          num_keypoints=3))
