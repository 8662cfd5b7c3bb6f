"""The paper's global decimal branch."""
import math
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpose.models.backbones.resnet import BasicBlock


class GlobalDecimalBranch(nn.Sequential):
    """The decimal branch of `HIH`_: 1x1 conv to ``channels``, 3x3/2
    max-pool, stride-2 residual blocks down to d x d, 1x1 conv, 1x1 conv to
    K logits maps (B, K, d, d). Bin (i, j) of a keypoint is read at a fixed
    place of the down-sampled map, wherever the keypoint is, so it learns
    only when keypoints stay near fixed places (aligned face crops).

    Args:
        in_channels (int): Channels of the heatmap-resolution feature
        channels (int): Width of the branch
        num_keypoints (int): K
        heatmap_size (tuple): ``(W, H)``; each side at least ``2 * d``
        decimal_size (int): d

    .. _`HIH`: https://arxiv.org/abs/2104.03100
    """

    def __init__(self, in_channels: int, channels: int, num_keypoints: int,
                 heatmap_size: Sequence[int], decimal_size: int) -> None:
        W, H = heatmap_size
        d = decimal_size
        if min(W, H) < 2 * d:
            raise ValueError(
                f'HIHHead: heatmap_size {(W, H)} must be at least twice '
                f'decimal_size={d} on both sides, so that the global decimal '
                'branch can downsample to d x d; lower decimal_size, raise '
                "the heatmap size, or use decimal_mode='local'")
        # Stride-2 steps while the short side stays >= d; a non-square or
        # non-power-of-2 heatmap (e.g. 48x64 for COCO) ends with an adaptive
        # pool to d x d, the paper's 64 -> 8 needs none.
        num_down = int(math.log2(min(W, H) / d))
        final = (math.ceil(H / 2**num_down), math.ceil(W / 2**num_down))
        C = channels
        bn = dict(type='BN')
        blocks = [
            BasicBlock(
                C, C, stride=2,
                downsample=ConvModule(C, C, 1, stride=2, norm_cfg=bn,
                                      act_cfg=None))
            for _ in range(num_down - 1)
        ]
        if final != (d, d):
            blocks.append(nn.AdaptiveAvgPool2d((d, d)))
        super().__init__(
            ConvModule(in_channels, C, 1, norm_cfg=bn),
            nn.MaxPool2d(3, 2, padding=1),
            *blocks,
            ConvModule(C, C, 1, norm_cfg=bn),
            nn.Conv2d(C, num_keypoints, 1),
        )
