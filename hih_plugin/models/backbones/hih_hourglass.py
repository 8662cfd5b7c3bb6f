"""The stacked hourglass of HIH (Newell et al. style, heatmap re-injection)."""
from typing import Optional, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.models.backbones.resnet import Bottleneck
from mmpose.registry import MODELS
from torch import Tensor


def residual(in_channels: int, out_channels: int) -> Bottleneck:
    """Bottleneck at half width (1x1, 3x3, 1x1, each with BN), with a
    projection shortcut only where the width changes."""
    downsample = None
    if in_channels != out_channels:
        downsample = ConvModule(
            in_channels, out_channels, 1, norm_cfg=dict(type='BN'),
            act_cfg=None)
    return Bottleneck(
        in_channels, out_channels, expansion=2, downsample=downsample)


def normal_init_(module: nn.Module, std: float = 0.001) -> None:
    """N(0, std) convolutions, unit BN, as the HIH paper initialises."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_hih_weights(module: BaseModule) -> None:
    """The paper's N(0, 0.001), unless ``init_cfg`` loads pretrained
    weights. Other init_cfgs are ignored: ConvModule's own (Kaiming) init
    would override them anyway."""
    cfg = module.init_cfg
    if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
        BaseModule.init_weights(module)
    else:
        normal_init_(module)


class Hourglass(nn.Module):
    """One hourglass: at each level a skip residual, and max-pool ->
    residual -> (inner hourglass or residual) -> residual -> bilinear x2."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = residual(channels, channels)
        self.down = nn.Sequential(
            nn.MaxPool2d(2, 2), residual(channels, channels))
        self.inner = (
            Hourglass(depth - 1, channels)
            if depth > 1 else residual(channels, channels))
        self.up = residual(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        low = self.up(self.inner(self.down(x)))
        # size= rather than scale_factor=2 so odd sizes still add up
        return self.skip(x) + F.interpolate(
            low, size=x.shape[-2:], mode='bilinear', align_corners=False)


@MODELS.register_module()
class HIHHourglass(BaseBackbone):
    """Stacked hourglass of `HIH`_ (Lan et al., 2022), after Newell et al.

    Stem: 7x7/2 conv, residual, 2x2 max-pool, two residuals, giving
    ``feat_channels`` at 1/4 of the input. Each stack: a depth-``depth``
    hourglass, residual, 1x1 conv (the stack feature), and a 1x1 conv to
    ``num_keypoints`` heatmaps; the next input is
    ``x + conv(feature) + conv(heatmaps)``, merged after every stack,
    including the last, because the decimal branch reads the final merge.

    The heatmap convs live here, not in the head, because re-injecting the
    heatmaps is part of the backbone's forward. The backbone therefore
    returns ``(heatmaps_1, ..., heatmaps_S, merged_feature)``;
    :class:`HIHHead` with ``heatmaps_from_backbone=True`` supervises every
    ``heatmaps_i`` and runs the decimal branch on ``merged_feature``.

    Args:
        num_keypoints (int): Number of heatmaps K per stack
        arch (str): ``'HIH-T'``, ``'HIH-S'`` or ``'HIH-B'`` for 1, 2 or 4
            stacks. Defaults to ``'HIH-B'``
        num_stacks (int, optional): Overrides the stack count of ``arch``
        feat_channels (int): Width of the hourglass. Defaults to 256
        depth (int): Number of 2x down-sampling levels per hourglass.
            Defaults to 4
        in_channels (int): Image channels. Defaults to 3
        init_cfg (dict, optional): Only a ``Pretrained`` config is used;
            otherwise weights are drawn from N(0, 0.001) as in the paper

    .. _`HIH`: https://arxiv.org/abs/2104.03100
    """

    arch_stacks = {'HIH-T': 1, 'HIH-S': 2, 'HIH-B': 4}

    def __init__(self,
                 num_keypoints: int,
                 arch: str = 'HIH-B',
                 num_stacks: Optional[int] = None,
                 feat_channels: int = 256,
                 depth: int = 4,
                 in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_stacks is None:
            if arch not in self.arch_stacks:
                raise ValueError(
                    f'HIHHourglass: unknown arch {arch!r}; use one of '
                    f'{sorted(self.arch_stacks)} or set num_stacks')
            num_stacks = self.arch_stacks[arch]
        if num_stacks < 1 or depth < 1:
            raise ValueError('HIHHourglass: num_stacks and depth must be '
                             f'>= 1, got {num_stacks} and {depth}')
        if feat_channels % 4:
            raise ValueError(
                f'HIHHourglass: feat_channels={feat_channels} must be a '
                'multiple of 4 (the stem uses 1/4 and 1/2 of it, the '
                'bottlenecks half of each width)')
        self.num_stacks = num_stacks
        self.num_keypoints = num_keypoints
        f = feat_channels
        bn = dict(type='BN')

        self.stem = nn.Sequential(
            ConvModule(in_channels, f // 4, 7, stride=2, padding=3,
                       norm_cfg=bn),
            residual(f // 4, f // 2),
            nn.MaxPool2d(2, 2),
            residual(f // 2, f // 2),
            residual(f // 2, f),
        )
        self.hourglasses = nn.ModuleList(
            Hourglass(depth, f) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(residual(f, f), ConvModule(f, f, 1, norm_cfg=bn))
            for _ in range(num_stacks))
        self.heatmap_convs = nn.ModuleList(
            nn.Conv2d(f, num_keypoints, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(
            ConvModule(f, f, 1, norm_cfg=bn) for _ in range(num_stacks))
        self.merge_heatmaps = nn.ModuleList(
            ConvModule(num_keypoints, f, 1, norm_cfg=bn)
            for _ in range(num_stacks))

    def init_weights(self) -> None:
        init_hih_weights(self)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i in range(self.num_stacks):
            feature = self.features[i](self.hourglasses[i](x))
            heatmaps = self.heatmap_convs[i](feature)
            outs.append(heatmaps)
            x = x + self.merge_features[i](feature) + self.merge_heatmaps[i](
                heatmaps)
        return (*outs, x)
