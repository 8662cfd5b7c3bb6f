"""The integer branch of HIHHead: its layers, loss, prior and scores."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.registry import MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import ConfigType
from torch import Tensor

from ....codecs.utils import flat_index_to_cells, get_heatmap_maximum_tensor
from ...losses import H3RLoss
from ..prior import foreground_prior_logit

STACK_LOSSES = ('mean', 'sum')


def integer_layers(in_channels: int, out_channels: int,
                   deconv_out_channels: Optional[Sequence[int]]
                   ) -> Tuple[nn.Sequential, nn.Conv2d, int]:
    """A single-feature backbone's heatmap layers: 4x4/2 deconvolutions
    with BN and ReLU, as :class:`HeatmapHead`'s ``deconv_layers`` (here
    ``ConvModule``, whose parameter names our checkpoints hold), then a 1x1
    conv to the K maps. Returns them and the width of the feature the
    decimal part reads."""
    layers = []
    for channels in deconv_out_channels or ():
        layers.append(
            ConvModule(in_channels, channels, 4, stride=2, padding=1,
                       conv_cfg=dict(type='deconv'), norm_cfg=dict(type='BN')))
        in_channels = channels
    return (nn.Sequential(*layers), nn.Conv2d(in_channels, out_channels, 1),
            in_channels)


def check_sizes(heatmaps: List[Tensor], feature: Tensor,
                heatmap_size: Sequence[int], out_channels: int,
                in_channels: int, feat_channels: int) -> None:
    """A ``ValueError`` naming the setting to change where the maps or the
    feature do not have the sizes the head is built for."""
    W, H = heatmap_size
    for hm in heatmaps:
        if hm.shape[1] != out_channels:
            raise ValueError(
                f'HIHHead: got {hm.shape[1]} heatmap channels but '
                f'out_channels={out_channels}; set the backbone\'s '
                'num_keypoints to the number of keypoints')
        if tuple(hm.shape[-2:]) != (H, W):
            raise ValueError(
                f'HIHHead: the network outputs {hm.shape[-1]}x'
                f'{hm.shape[-2]} heatmaps but the codec heatmap_size is '
                f'{W}x{H}; set codec heatmap_size to the backbone output '
                'size (input_size / backbone stride), or add '
                'deconv_out_channels to upsample')
    if feature.shape[1] != feat_channels:
        raise ValueError(
            f'HIHHead: feature has {feature.shape[1]} channels but '
            f'in_channels={in_channels}; set in_channels to the '
            'backbone (or neck) output width')


def argmax_cells(heatmaps: Tensor) -> Tensor:
    """The cells ``[x, y]`` (B, K, 2) the codec decodes from: the argmax of
    each map (B, K, H, W), by the codec's own rule for ties and NaN."""
    _, idx = get_heatmap_maximum_tensor(heatmaps.detach().flatten(2))
    return flat_index_to_cells(idx, heatmaps.shape[-1])


def blurred_argmax_cells(scores: Tensor, sigma: float) -> Tensor:
    """The argmax cells (B, K, 2) of ``scores`` (B, K, H, W) smoothed by a
    Gaussian of ``sigma`` cells (cut at 3 sigma, zeros past the border), as
    DARK smooths its maps: the cell with the most score around it wins over
    a narrow stray peak, which on a map spread along a contour (the jaw) lands
    cells away. ``sigma=0`` is the plain :func:`argmax_cells`."""
    if not sigma:
        return argmax_cells(scores)
    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=scores.dtype, device=scores.device)
    g = torch.exp(-t**2 / (2 * sigma**2))
    B, K, H, W = scores.shape
    x = scores.detach().reshape(B * K, 1, H, W)
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, r))  # separable
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(r, 0))
    return argmax_cells(x.view(B, K, H, W))


def softmax_maps(logits: Tensor) -> Tensor:
    """A softmax over each map's last two dimensions."""
    return logits.flatten(-2).softmax(-1).view_as(logits)


class IntegerHeatmaps(nn.Module):
    """What the integer maps are trained as, and their scores.

    The loss fixes it, once, at construction: ``H3RLoss`` makes the maps
    logits of a classification against the Gaussian target (``target``
    ``'bce'``: per cell, as H3R trains, starting at the logit of a
    ``1 / (H * W)`` foreground prior; ``'softmax'``: over the map), any
    other loss regresses the map itself (``'mse'``). Scores, votes and
    ``output_heatmaps`` use the maps' probabilities, which keep the argmax.

    Args:
        loss (dict): The heatmap loss, applied to every stack
        heatmap_size (tuple): ``(W, H)``
        stack_loss (str): ``'mean'`` or ``'sum'`` of the stacks' losses
    """

    def __init__(self, loss: ConfigType, heatmap_size: Sequence[int],
                 stack_loss: str = 'mean') -> None:
        super().__init__()
        self.loss_module = MODELS.build(loss)
        self.target = self.loss_module.mode if isinstance(
            self.loss_module, H3RLoss) else 'mse'
        self.prior = foreground_prior_logit(heatmap_size)
        self.stack_loss = stack_loss

    def with_prior(self, heatmaps: List[Tensor]) -> List[Tensor]:
        """BCE maps start at the foreground prior (H3R's bias init, for
        stacked backbones too), so the background's BCE does not swamp the
        first steps."""
        if self.target != 'bce':
            return heatmaps
        return [hm + self.prior for hm in heatmaps]

    def probs(self, heatmaps: Tensor) -> Tensor:
        """The maps as scores: regressed maps as they are, logits as
        probabilities."""
        if self.target == 'bce':
            return heatmaps.sigmoid()
        if self.target == 'softmax':
            return softmax_maps(heatmaps)
        return heatmaps

    def loss(self, heatmaps: List[Tensor], gt_heatmaps: Tensor,
             keypoint_weights: Tensor) -> Tensor:
        """The loss of every stack's maps, averaged or summed."""
        loss = sum(
            self.loss_module(hm, gt_heatmaps, keypoint_weights)
            for hm in heatmaps)
        if self.stack_loss == 'mean':
            loss = loss / len(heatmaps)
        return loss

    @staticmethod
    def accuracy(heatmaps: Tensor, gt_heatmaps: Tensor,
                 keypoint_weights: Tensor) -> Tensor:
        """MMPose's PCK accuracy of the last maps, as HeatmapHead logs."""
        _, avg_acc, _ = pose_pck_accuracy(
            output=to_numpy(heatmaps),
            target=to_numpy(gt_heatmaps),
            mask=to_numpy(keypoint_weights) > 0)
        return torch.tensor(avg_acc, device=gt_heatmaps.device)
