"""HIH head: integer heatmaps plus the coordinate soft-classification."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.structures import InstanceData, PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.backbones.resnet import BasicBlock
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, Features, OptConfigType,
                                 OptSampleList, Predictions)
from torch import Tensor

from ...codecs.utils import (decimal_axis_labels, decimal_bin_position,
                             flat_index_to_cells, get_heatmap_maximum_tensor)
from ..backbones.hih_hourglass import init_hih_weights

DECIMAL_MODES = ('global', 'local')
DECIMAL_BINS = ('separable', 'joint')
STACK_LOSSES = ('mean', 'sum')
READOUT_CELLS = ('auto', 'truth', 'neighbours', 'jitter')


class LocalDecimalReadout(nn.Module):
    """Decimal logits read at each keypoint's own integer cell (local CSC).

    A 3x3 convolution with BN and ReLU, evaluated only at the K cells (its
    3x3 patches are gathered, so the cost does not grow with the heatmap
    size), then a per-keypoint linear layer to the logits: ``d`` x-bins plus
    ``d`` y-bins summed into a (d, d) map (``'separable'``: the softmax of
    the sum is the product of the per-axis softmaxes, which matches the
    codec's separable Gaussian label), or ``d * d`` bins (``'joint'``).

    Args:
        in_channels (int): Channels of the heatmap-resolution feature
        channels (int): Width of the 3x3 convolution
        num_keypoints (int): K
        decimal_size (int): d
        bins (str): ``'separable'`` or ``'joint'``
    """

    def __init__(self, in_channels: int, channels: int, num_keypoints: int,
                 decimal_size: int, bins: str = 'separable') -> None:
        super().__init__()
        self.decimal_size = decimal_size
        self.bins = bins
        out = 2 * decimal_size if bins == 'separable' else decimal_size**2
        # weights laid out as a (channels, in_channels, 3, 3) convolution
        self.conv = nn.Linear(in_channels * 9, channels, bias=False)
        self.norm = nn.BatchNorm1d(channels)
        self.weight = nn.Parameter(torch.zeros(num_keypoints, channels, out))
        self.bias = nn.Parameter(torch.zeros(num_keypoints, out))

    def init_weights(self, std: float = 0.001) -> None:
        nn.init.normal_(self.weight, std=std)
        nn.init.zeros_(self.bias)

    def forward(self, feature: Tensor, cells: Tensor) -> Tensor:
        """Logits (B, K, d, d) of the features around ``cells`` (B, K, 2)
        (integer ``[x, y]``, clamped into the map); cells (B, K, M, 2) give
        logits (B, K, M, d, d)."""
        logits = self._logits(feature, cells)
        d = self.decimal_size
        if self.bins == 'separable':
            lx, ly = logits.split(d, dim=-1)
            return ly[..., :, None] + lx[..., None, :]
        return logits.unflatten(-1, (d, d))

    def axis_logits(self, feature: Tensor, cells: Tensor) -> Tensor:
        """Separable bins only: the x and y logits (..., 2, d) whose sum
        :meth:`forward` returns, for a loss that needs no d x d map."""
        assert self.bins == 'separable'
        return self._logits(feature, cells).unflatten(
            -1, (2, self.decimal_size))

    def _logits(self, feature: Tensor, cells: Tensor) -> Tensor:
        B, C, H, W = feature.shape
        shape = cells.shape[:-1]  # (B, K) or (B, K, M)
        x = cells[..., 0].long().clamp(0, W - 1).reshape(B, -1)
        y = cells[..., 1].long().clamp(0, H - 1).reshape(B, -1)
        t = torch.arange(3, device=feature.device)
        dy, dx = (a.flatten() for a in torch.meshgrid(t, t, indexing='ij'))
        # rows of the map zero-padded by 1, so border patches are valid,
        # with channels last, so each patch is 9 whole rows: no transpose
        # of the (B * n, 9 * C) patches, the largest tensor of the head
        idx = (y[..., None] + dy) * (W + 2) + x[..., None] + dx  # (B, n, 9)
        idx = idx + torch.arange(B, device=idx.device).view(B, 1, 1) * (
            (H + 2) * (W + 2))
        rows = F.pad(feature, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(
            -1, C)
        patches = rows.index_select(0, idx.flatten()).view(-1, 9 * C)
        # the conv's weights are laid out (channels, C, 3, 3)
        weight = self.conv.weight.view(-1, C, 9).transpose(1, 2).reshape(
            -1, 9 * C)
        h = F.relu(self.norm(F.linear(patches, weight)))
        K = shape[1]
        logits = torch.einsum('bkmc,kco->bkmo', h.view(B, K, -1, h.shape[-1]),
                              self.weight) + self.bias[:, None]
        return logits.view(*shape, -1)


@MODELS.register_module()
class HIHHead(BaseHead):
    """Head of `HIH`_ (Lan et al., 2022): integer heatmaps for every stack
    with intermediate supervision, and decimal logits from the last feature
    trained as a d x d soft classification (CSC).

    Two kinds of backbone are supported:

    - ``heatmaps_from_backbone=True``: a stacked backbone such as
      :class:`HIHHourglass` returns ``(heatmaps_1, ..., heatmaps_S,
      feature)``; every ``heatmaps_i`` is supervised and the decimal branch
      reads ``feature``.
    - ``heatmaps_from_backbone=False``: a single-feature backbone (HRNetV2,
      ResNet, ...); the head reads ``feats[-1]``, optionally upsamples it
      with deconvolutions, and predicts the heatmaps with a 1x1 conv.

    Decimal branch, ``decimal_mode``:

    - ``'global'`` (the paper's): 1x1 conv to ``decimal_channels``, 3x3/2
      max-pool, stride-2 residual blocks down to d x d, 1x1 conv, 1x1 conv
      to K logits maps. Bin (i, j) of a keypoint is read at a fixed place of
      the down-sampled map, wherever the keypoint is, so it learns only when
      keypoints stay near fixed places (aligned face crops).
    - ``'local'`` (ours): a :class:`LocalDecimalReadout` reads each
      keypoint's logits at its own integer cell of the heatmap-resolution
      feature: the ground-truth cell in :meth:`loss`, the predicted argmax
      cell in :meth:`predict`. It learns wherever keypoints are.

    Both return (B, K, d, d) logits, so the codec, the loss, decoding and
    the flip test are the same. In the flip test each view reads its own
    argmax cells.

    Flip test (``test_cfg.flip_test``, ``flip_mode='heatmap'``): each
    branch is decoded in its own frame, the flipped branch's keypoints are
    mirrored as MMPose flips images (``x' = w - 1 - x``, symmetric
    keypoints swapped), and the two branches' keypoints are averaged.
    Averaging coordinates rather than maps keeps the sub-cell result
    unbiased, since the two branches' decimal maps may refer to different
    cells. ``shift_heatmap`` only affects the averaged heatmaps returned
    with ``output_heatmaps``.

    Args:
        in_channels (int): Channels of the feature the head reads
        out_channels (int): Number of keypoints K
        decoder (dict): An :class:`HIHHeatmap` codec config; it fixes the
            heatmap and decimal sizes the head is built for
        heatmaps_from_backbone (bool): See above. Defaults to ``False``
        decimal_channels (int): Width of the decimal branch. Defaults to 384
        deconv_out_channels (Sequence[int], optional): Channels of 4x4/2
            deconvolutions before the heatmap conv, for single-feature
            backbones whose output is smaller than the heatmap (e.g. ResNet).
            Defaults to ``None``
        decimal_mode (str): ``'global'`` or ``'local'``, see above.
            Defaults to ``'global'``
        decimal_bins (str): Local mode only: ``'separable'`` x and y bins or
            ``'joint'`` d x d bins. Defaults to ``'separable'``
        readout_cells (str): Local mode only: where the read-out is trained.
            ``'truth'``: at the true cell only, so it corrects only inside
            the cell (the read-out of decimal_mode='local' before the codec
            had ``decimal_span``). ``'neighbours'``: at every cell within
            ``(decimal_span - 1) / 2`` of the true one, each with the label
            of the landmark's offset from that cell, weighted by the integer
            Gaussian there (as MMPose's SKPS trains its offsets over the
            Gaussian neighbourhood), so an argmax a cell off still reads a
            trained, correcting offset. ``'jitter'``: at one such cell drawn
            at random per landmark and step, with the same weights as
            probabilities. ``'auto'`` is ``'neighbours'`` when the codec's
            ``decimal_span`` > 1 and ``'truth'`` otherwise.
            Defaults to ``'auto'``
        neighbour_votes (bool): Local mode with ``decimal_span`` >= 3: at
            test time read the decimal logits at every cell within
            ``(decimal_span - 1) / 2`` of the argmax too, and average the
            points they decode to, weighted by the integer heatmap there
            (clipped at 0), as PIPNet adds its neighbours' votes. Needs a
            read-out trained around the true cell. Defaults to ``False``
        vote_power (float): With ``neighbour_votes``: the votes' weights
            are the integer map to this power, so above 1 a neighbour
            counts only where the map is nearly as high as at the argmax.
            1 weighs by the map, as PIPNet does; the local configs use 3,
            the best on our face and blob benchmarks. Defaults to 1.0
        loss (dict): Integer heatmap loss, applied to every stack.
            ``KeypointMSELoss`` regresses the Gaussian target. ``H3RLoss``
            makes the maps logits of a classification against it (``'bce'``:
            per cell, as H3R trains; ``'softmax'``: over the map). With
            ``'bce'`` the head adds the logit of a ``1 / (H * W)`` foreground
            prior to the network's maps, so they start there. Decoding,
            votes, scores and ``output_heatmaps`` use the probabilities
            (sigmoid or softmax). Defaults to
            ``KeypointMSELoss`` with target weights, weight 1.0
        stack_loss (str): ``'mean'`` averages the heatmap loss over stacks,
            as the official code's single ``MSELoss`` over the stacked
            tensors does; ``'sum'`` adds them. Defaults to ``'mean'``
        decimal_loss (dict): Decimal loss. Defaults to
            ``DistributionLoss`` with weight 0.05
        init_cfg (dict, optional): Only a ``Pretrained`` config is used;
            otherwise weights are drawn from N(0, 0.001) as in the paper

    .. _`HIH`: https://arxiv.org/abs/2104.03100
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 decoder: OptConfigType = None,
                 heatmaps_from_backbone: bool = False,
                 decimal_channels: int = 384,
                 deconv_out_channels: Optional[Sequence[int]] = None,
                 decimal_mode: str = 'global',
                 decimal_bins: str = 'separable',
                 readout_cells: str = 'auto',
                 neighbour_votes: bool = False,
                 vote_power: float = 1.,
                 stack_loss: str = 'mean',
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 decimal_loss: ConfigType = dict(
                     type='DistributionLoss', loss_weight=0.05),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        for name, value, choices in (
                ('decimal_mode', decimal_mode, DECIMAL_MODES),
                ('decimal_bins', decimal_bins, DECIMAL_BINS),
                ('readout_cells', readout_cells, READOUT_CELLS),
                ('stack_loss', stack_loss, STACK_LOSSES)):
            if value not in choices:
                raise ValueError(
                    f'HIHHead: {name}={value!r} is unknown; choose one of '
                    f'{", ".join(map(repr, choices))}')
        self.decimal_mode = decimal_mode
        self.stack_loss = stack_loss
        if decoder is None:
            raise ValueError(
                'HIHHead needs decoder=codec (an HIHHeatmap config): the '
                'heatmap and decimal sizes fix the decimal branch')
        self.decoder = KEYPOINT_CODECS.build(decoder)
        if not hasattr(self.decoder, 'decimal_size'):
            raise ValueError(
                f'HIHHead: decoder {type(self.decoder).__name__} has no '
                'decimal_size; use type=\'HIHHeatmap\'')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heatmaps_from_backbone = heatmaps_from_backbone
        self.loss_module = MODELS.build(loss)
        # H3RLoss trains logits; MSE losses regress the map itself
        self.heatmap_activation = getattr(self.loss_module, 'mode', None)
        self.decimal_loss_module = MODELS.build(decimal_loss)

        W, H = self.decoder.heatmap_size
        d = self.decoder.decimal_size
        span = getattr(self.decoder, 'decimal_span', 1)
        if readout_cells == 'auto':
            readout_cells = 'neighbours' if span > 1 else 'truth'
        if readout_cells != 'truth':
            if decimal_mode != 'local' or span < 3:
                raise ValueError(
                    f'HIHHead: readout_cells={readout_cells!r} trains the '
                    'local read-out around the true cell; it needs '
                    "decimal_mode='local' and a codec with decimal_span >= 3 "
                    f'(got {decimal_mode!r} and decimal_span={span})')
            if self.decoder.decimal_label != 'gaussian':
                raise ValueError(
                    f'HIHHead: readout_cells={readout_cells!r} builds '
                    'Gaussian labels for the neighbouring cells; set the '
                    "codec's decimal_label='gaussian'")
        if neighbour_votes and (readout_cells == 'truth' or span < 3):
            raise ValueError(
                'HIHHead: neighbour_votes reads the decimal logits around '
                'the argmax cell, which only a read-out trained there can '
                "use: set decimal_mode='local', a codec decimal_span >= 3 "
                "and readout_cells 'neighbours' or 'jitter'")
        if not vote_power > 0:
            raise ValueError(
                f'HIHHead: vote_power={vote_power} must be positive')
        self.readout_cells = readout_cells
        self.neighbour_votes = neighbour_votes
        self.vote_power = vote_power
        if decimal_mode == 'global' and min(W, H) < 2 * d:
            raise ValueError(
                f'HIHHead: heatmap_size {(W, H)} must be at least twice '
                f'decimal_size={d} on both sides, so that the global decimal '
                'branch can downsample to d x d; lower decimal_size, raise '
                "the heatmap size, or use decimal_mode='local'")

        feat_channels = in_channels
        self.heatmap_layers = None
        if not heatmaps_from_backbone:
            layers = []
            for channels in deconv_out_channels or ():
                layers.append(
                    ConvModule(feat_channels, channels, 4, stride=2,
                               padding=1, conv_cfg=dict(type='deconv'),
                               norm_cfg=dict(type='BN')))
                feat_channels = channels
            self.upsample = nn.Sequential(*layers)
            self.heatmap_layers = nn.Conv2d(feat_channels, out_channels, 1)
        elif deconv_out_channels:
            raise ValueError(
                'HIHHead: deconv_out_channels needs '
                'heatmaps_from_backbone=False; a stacked backbone already '
                'outputs heatmap-sized features')

        self.feat_channels = feat_channels
        if decimal_mode == 'local':
            self.decimal_readout = LocalDecimalReadout(
                feat_channels, decimal_channels, out_channels, d,
                decimal_bins)
        else:
            self.decimal_layers = self._global_branch(feat_channels,
                                                      decimal_channels)

    def _global_branch(self, in_channels: int, C: int) -> nn.Sequential:
        W, H = self.decoder.heatmap_size
        d = self.decoder.decimal_size
        # Stride-2 steps while the short side stays >= d; a non-square or
        # non-power-of-2 heatmap (e.g. 48x64 for COCO) ends with an adaptive
        # pool to d x d, the paper's 64 -> 8 needs none.
        num_down = int(math.log2(min(W, H) / d))
        final = (math.ceil(H / 2**num_down), math.ceil(W / 2**num_down))
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
        return nn.Sequential(
            ConvModule(in_channels, C, 1, norm_cfg=bn),
            nn.MaxPool2d(3, 2, padding=1),
            *blocks,
            ConvModule(C, C, 1, norm_cfg=bn),
            nn.Conv2d(C, self.out_channels, 1),
        )

    def init_weights(self) -> None:
        init_hih_weights(self)
        is_pretrained = isinstance(self.init_cfg, dict) and \
            self.init_cfg.get('type') == 'Pretrained'
        if self.decimal_mode == 'local' and not is_pretrained:
            self.decimal_readout.init_weights()

    def forward(self,
                feats: Tuple[Tensor],
                cells: Optional[Tensor] = None) -> Tuple[List[Tensor], Tensor]:
        """Forward the head.

        Args:
            feats (Tuple[Tensor]): Backbone (or neck) outputs
            cells (Tensor, optional): Local mode: the integer cells (B, K, 2)
                to read the decimal logits at. Defaults to the argmax cells
                of the last heatmaps

        Returns:
            tuple:
            - heatmaps (List[Tensor]): Integer heatmaps of every stack, each
                in shape (B, K, H, W); the last one is used for decoding
            - decimal (Tensor): Decimal logits in shape (B, K, d, d)
        """
        heatmaps, feature = self._heatmaps_and_feature(feats)
        if self.decimal_mode == 'global':
            return heatmaps, self.decimal_layers(feature)
        if cells is None:
            cells = self._argmax_cells(heatmaps[-1])
        return heatmaps, self.decimal_readout(feature, cells)

    def _heatmaps_and_feature(self, feats: Tuple[Tensor]
                              ) -> Tuple[List[Tensor], Tensor]:
        """Heatmaps of every stack and the feature the decimal part reads."""
        if self.heatmaps_from_backbone:
            if len(feats) < 2:
                raise ValueError(
                    'HIHHead(heatmaps_from_backbone=True) expects '
                    '(heatmaps_1, ..., heatmaps_S, feature) from a stacked '
                    f'backbone such as HIHHourglass, got {len(feats)} '
                    'tensor(s); set heatmaps_from_backbone=False for a '
                    'single-feature backbone')
            heatmaps, feature = list(feats[:-1]), feats[-1]
        else:
            feature = self.upsample(feats[-1])
            heatmaps = [self.heatmap_layers(feature)]
        self._check_sizes(heatmaps, feature)
        if self.heatmap_activation == 'bce':
            # Near-zero initial maps become the logit of a 1 / (H * W)
            # foreground prior (H3R's bias init, for stacked backbones too),
            # so the background's BCE does not swamp the first steps.
            W, H = self.decoder.heatmap_size
            heatmaps = [hm - math.log(W * H - 1) for hm in heatmaps]
        return heatmaps, feature

    def _neighbours(self, cells: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The cells within ``(decimal_span - 1) / 2`` of ``cells``
        (B, K, 2): offsets (M, 2) ``[dx, dy]``, the cells (B, K, M, 2) and
        whether each lies in the heatmap (B, K, M)."""
        r = (self.decoder.decimal_span - 1) // 2
        t = torch.arange(-r, r + 1, device=cells.device)
        delta = torch.stack(torch.meshgrid(t, t, indexing='xy'),
                            -1).view(-1, 2)
        near = cells[:, :, None] + delta
        W, H = self.decoder.heatmap_size
        inside = ((near >= 0) & (near < near.new_tensor([W, H]))).all(-1)
        return delta, near, inside

    def _neighbour_loss(self, feature: Tensor, cells: Tensor,
                        offsets: Tensor, keypoint_weights: Tensor) -> Tensor:
        """Decimal loss of the read-out at the cells around the true ones
        (``readout_cells`` 'neighbours' or 'jitter'), each against the
        Gaussian label of the landmark's offset from that cell."""
        codec = self.decoder
        span = codec.decimal_span
        delta, near, inside = self._neighbours(cells)
        # the integer target's Gaussian at each cell: where an argmax that
        # misses the true cell is likely to land
        prior = torch.exp(-(delta**2).sum(-1) / (2 * codec.sigma**2))
        prior = prior.to(feature.dtype) * inside
        if self.readout_cells == 'jitter':
            pick = torch.multinomial(prior.flatten(0, 1), 1).view(
                *cells.shape[:2], 1)
            near = near.gather(2, pick[..., None].expand(-1, -1, -1, 2))
            prior = torch.ones_like(pick, dtype=feature.dtype)
            delta = delta[pick]  # (B, K, 1, 2)
        else:
            # mean weight 1 per landmark, as with the single true cell
            prior = prior * (prior.shape[-1] / prior.sum(-1, keepdim=True))
        bin_pos = decimal_bin_position(
            (offsets[:, :, None] - delta).to(feature.dtype),
            codec.decimal_size, span)
        target = decimal_axis_labels(bin_pos, codec.decimal_size,
                                     codec.decimal_sigma)  # (B, K, M, 2, d)
        weights = (keypoint_weights[:, :, None] * prior).flatten(1)
        readout = self.decimal_readout
        if readout.bins == 'separable':
            return self.decimal_loss_module.separable(
                readout.axis_logits(feature, near).flatten(1, 2),
                target.flatten(1, 2), weights)
        joint = target[..., 1, :, None] * target[..., 0, None, :]
        return self.decimal_loss_module(
            readout(feature, near).flatten(1, 2), joint.flatten(1, 2),
            weights)

    @staticmethod
    def _argmax_cells(heatmaps: Tensor) -> Tensor:
        """The cells the codec decodes from: argmax of each map, by the
        codec's own rule for ties and NaN."""
        _, idx = get_heatmap_maximum_tensor(heatmaps.detach().flatten(2))
        return flat_index_to_cells(idx, heatmaps.shape[-1])

    def _check_sizes(self, heatmaps: List[Tensor], feature: Tensor) -> None:
        W, H = self.decoder.heatmap_size
        for hm in heatmaps:
            if hm.shape[1] != self.out_channels:
                raise ValueError(
                    f'HIHHead: got {hm.shape[1]} heatmap channels but '
                    f'out_channels={self.out_channels}; set the backbone\'s '
                    'num_keypoints to the number of keypoints')
            if tuple(hm.shape[-2:]) != (H, W):
                raise ValueError(
                    f'HIHHead: the network outputs {hm.shape[-1]}x'
                    f'{hm.shape[-2]} heatmaps but the codec heatmap_size is '
                    f'{W}x{H}; set codec heatmap_size to the backbone output '
                    'size (input_size / backbone stride), or add '
                    'deconv_out_channels to upsample')
        if feature.shape[1] != self.feat_channels:
            raise ValueError(
                f'HIHHead: feature has {feature.shape[1]} channels but '
                f'in_channels={self.in_channels}; set in_channels to the '
                'backbone (or neck) output width')

    def _decimal_probs(self, logits: Tensor) -> Tensor:
        return logits.flatten(-2).softmax(-1).view_as(logits)

    def _heatmap_probs(self, heatmaps: Tensor) -> Tensor:
        """The integer maps as scores: the maps themselves when they are
        regressed (MSE), else the probabilities of their logits. Monotone,
        so the argmax cells stay those of the raw maps."""
        if self.heatmap_activation == 'bce':
            return heatmaps.sigmoid()
        if self.heatmap_activation == 'softmax':
            return self._decimal_probs(heatmaps)
        return heatmaps

    def _view_maps(self, feats: Features) -> tuple:
        """What one view decodes from: the last integer maps as scores
        (B, K, H, W), the decimal distributions, and with votes their cells
        and weights; see :meth:`HIHHeatmap.decode_tensors`."""
        if not self.neighbour_votes:
            heatmaps, logits = self.forward(feats)
            return (self._heatmap_probs(heatmaps[-1]),
                    self._decimal_probs(logits), None, None)
        heatmaps, feature = self._heatmaps_and_feature(feats)
        heatmaps = self._heatmap_probs(heatmaps[-1])
        delta, near, inside = self._neighbours(self._argmax_cells(heatmaps))
        H, W = heatmaps.shape[-2:]
        at = near[..., 1].clamp(0, H - 1) * W + near[..., 0].clamp(0, W - 1)
        weights = heatmaps.flatten(2).gather(2, at)
        centre = (delta == 0).all(-1)
        # votes off the map get no weight; the argmax cell always keeps some
        weights = (weights.clamp(min=0) * inside)**self.vote_power + \
            1e-6 * centre
        probs = self._decimal_probs(self.decimal_readout(feature, near))
        return heatmaps, probs, near, weights

    def decode_tensors(self, feats: Features) -> Tuple[Tensor, Tensor]:
        """Keypoints (B, K, 2) in input pixels and scores (B, K) of one
        view, in torch operators (the decoding of the exported ONNX
        graph)."""
        return self.decoder.decode_tensors(*self._view_maps(feats))

    def _predict_view(self, feats: Features) -> tuple:
        """Decode one view: the last heatmaps (B, K, H, W), the decimal
        distributions at the argmax cells (B, K, d, d), and the keypoints
        and scores of each sample, as ``HIHHeatmap.batch_decode`` returns
        them."""
        heatmaps, probs, cells, weights = self._view_maps(feats)
        at_argmax = probs
        if cells is not None:
            centre = cells.shape[2] // 2  # the middle of the 3x3 cells
            at_argmax = probs[:, :, centre].clone()
        return (heatmaps, at_argmax,
                *self.decoder.batch_decode(heatmaps, probs, cells, weights))

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints in input-image pixels, with optional flip test.

        Returns:
            Union[InstanceList | Tuple[InstanceList | PixelDataList]]: The
            pose predictions (``keypoints`` (1, K, 2), ``keypoint_scores``
            (1, K)), plus PixelData with ``heatmaps`` (K, H, W) and
            ``decimal_heatmaps`` (K, d, d) if ``test_cfg.output_heatmaps``.
        """
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            if test_cfg.get('flip_mode', 'heatmap') != 'heatmap':
                raise ValueError(
                    f"HIHHead supports flip_mode='heatmap' only, got "
                    f"{test_cfg.get('flip_mode')!r}; change test_cfg")
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            heatmaps, probs, kpts, scores = self._predict_view(feats[0])
            heatmaps_f, probs_f, kpts_f, scores_f = self._predict_view(
                feats[1])
            # Each view decodes in its own frame; the flipped one's points
            # are mirrored as MMPose flips images, x' = w - 1 - x. That
            # equals decoding the mirrored maps (cells and x bins reversed)
            # and works for votes too.
            w = self.decoder.input_size[0]
            preds = []
            for k, s, k_f, s_f in zip(kpts, scores, kpts_f, scores_f):
                k_f = k_f[:, flip_indices].copy()
                k_f[..., 0] = w - 1 - k_f[..., 0]
                preds.append(
                    InstanceData(
                        keypoints=(k + k_f) * 0.5,
                        keypoint_scores=(s + s_f[:, flip_indices]) * 0.5))
            out_heatmaps = (heatmaps + flip_heatmaps(
                heatmaps_f, flip_indices=flip_indices,
                shift_heatmap=test_cfg.get('shift_heatmap', False))) * 0.5
            out_probs = (probs + flip_heatmaps(
                probs_f, flip_indices=flip_indices,
                shift_heatmap=False)) * 0.5
        else:
            out_heatmaps, out_probs, kpts, scores = self._predict_view(feats)
            preds = [
                InstanceData(keypoints=k, keypoint_scores=s)
                for k, s in zip(kpts, scores)
            ]

        if test_cfg.get('output_heatmaps', False):
            pred_fields = [
                PixelData(heatmaps=hm) for hm in out_heatmaps.detach()
            ]
            for field, p in zip(pred_fields, out_probs.detach()):
                # A PixelData holds one spatial size, so keep it as metainfo.
                # Cloned: a view would keep (and deep copies would copy) the
                # whole batch's storage with every sample.
                field.set_metainfo(dict(decimal_heatmaps=p.clone()))
            return preds, pred_fields
        return preds

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Heatmap loss over stacks (``stack_loss``), plus the decimal loss.

        Returns:
            dict: ``loss_kpt``, ``loss_decimal`` and ``acc_pose``.
        """
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        labels = [d.gt_instance_labels for d in batch_data_samples]
        gt_decimal = torch.cat([lb.decimal_heatmaps for lb in labels])
        keypoint_weights = torch.cat([lb.keypoint_weights for lb in labels])
        expected = (len(labels), self.out_channels, *gt_decimal.shape[-2:])
        if (tuple(gt_decimal.shape) != expected
                or gt_decimal.shape[-1] != self.decoder.decimal_size):
            raise ValueError(
                f'HIHHead: decimal labels {tuple(gt_decimal.shape)} do not '
                f'fit a batch of {len(labels)} with {self.out_channels} '
                f'keypoints and decimal_size={self.decoder.decimal_size}; '
                'the head trains one instance per sample (top-down) and '
                'needs the same HIHHeatmap codec in GenerateTarget and in '
                'the head')
        cells = None
        if self.decimal_mode == 'local':
            needed = ('keypoint_cells', ) if self.readout_cells == 'truth' \
                else ('keypoint_cells', 'keypoint_offsets')
            for key in needed:
                if not all(key in lb for lb in labels):
                    raise ValueError(
                        "HIHHead(decimal_mode='local') reads the ground-truth"
                        f' cells from gt_instance_labels.{key}, which '
                        'HIHHeatmap writes; encode the targets with '
                        'HIHHeatmap in GenerateTarget')
            cells = torch.cat([lb.keypoint_cells for lb in labels])
            cells = cells.round().long()
        if self.readout_cells == 'truth':
            heatmaps, logits = self.forward(feats, cells)
            loss_decimal = self.decimal_loss_module(logits, gt_decimal,
                                                    keypoint_weights)
        else:
            offsets = torch.cat([lb.keypoint_offsets for lb in labels])
            heatmaps, feature = self._heatmaps_and_feature(feats)
            loss_decimal = self._neighbour_loss(feature, cells, offsets,
                                                keypoint_weights)

        loss_kpt = sum(
            self.loss_module(hm, gt_heatmaps, keypoint_weights)
            for hm in heatmaps)
        if self.stack_loss == 'mean':
            loss_kpt = loss_kpt / len(heatmaps)
        losses = dict(loss_kpt=loss_kpt, loss_decimal=loss_decimal)
        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(heatmaps[-1]),
                target=to_numpy(gt_heatmaps),
                mask=to_numpy(keypoint_weights) > 0)
            losses.update(
                acc_pose=torch.tensor(avg_acc, device=gt_heatmaps.device))
        return losses
