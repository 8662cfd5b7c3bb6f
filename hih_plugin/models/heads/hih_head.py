"""HIH head: integer heatmaps plus the coordinate soft-classification."""
from typing import List, Optional, Sequence, Tuple

from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (ConfigType, Features, OptConfigType,
                                 OptSampleList, Predictions)
from torch import Tensor

from ..backbones.hih_hourglass import init_hih_weights
from .hih.global_decimal import GlobalDecimalBranch
from .hih.integer import (STACK_LOSSES, IntegerHeatmaps, argmax_cells,
                          blurred_argmax_cells, check_sizes, integer_layers,
                          softmax_maps)
from .hih.labels import gather_labels
from .hih.local_readout import DECIMAL_BINS, LocalDecimalReadout
from .hih.neighbours import NeighbourTraining, neighbour_votes
from .tta import average_flipped_instances, average_flipped_maps

__all__ = ['HIHHead', 'LocalDecimalReadout']

DECIMAL_MODES = ('global', 'local')
READOUT_CELLS = ('auto', 'truth', 'neighbours', 'jitter')
# What None means for each decimal_mode (the local recipe of
# configs/hih-local_wflw.py, measured in docs/results/local_readout.md).
MODE_DEFAULTS = {
    'global': dict(
        vote_power=1.,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decimal_loss=dict(type='DistributionLoss', loss_weight=0.05)),
    'local': dict(
        vote_power=3.,
        loss=dict(type='H3RLoss', mode='bce', use_target_weight=True),
        decimal_loss=dict(type='DistributionLoss', loss_weight=2.25)),
}


@MODELS.register_module()
class HIHHead(BaseHead):
    """Head of `HIH`_ (Lan et al., 2022): integer heatmaps for every stack
    with intermediate supervision, and decimal logits (B, K, d, d) trained
    as a d x d soft classification (CSC).

    It composes one unit per concept (``hih_plugin/models/heads/hih/``):

    - the integer branch (:class:`IntegerHeatmaps`): the maps come from a
      stacked backbone such as :class:`HIHHourglass`, which returns
      ``(heatmaps_1, ..., heatmaps_S, feature)`` (``heatmaps_from_backbone
      =True``), or from ``feats[-1]`` of a single-feature backbone through
      optional 4x4/2 deconvolutions and a 1x1 conv. The loss fixes what the
      maps are: regressed (MSE losses) or logits (``H3RLoss``, ``'bce'``
      maps start at a ``1 / (H * W)`` foreground prior);
    - ``decimal_mode='global'``, the paper's :class:`GlobalDecimalBranch`:
      bins read at fixed places of a down-sampled map, so it learns only
      where keypoints stay near fixed places (aligned face crops);
    - ``decimal_mode='local'``, a :class:`LocalDecimalReadout` read at each
      keypoint's own cell: the true cell in :meth:`loss`, the argmax cell in
      :meth:`predict`. It learns wherever keypoints are;
    - training at the neighbour cells (:class:`NeighbourTraining`) and
      neighbour votes (:func:`neighbour_votes`), for a codec whose decimal
      bins span 3 or more cells;
    - the flip test (:func:`average_flipped_instances`, shared with
      :class:`H3RHead`); ``shift_heatmap`` only affects the averaged
      heatmaps returned with ``output_heatmaps``.

    Arguments left at ``None`` take the default of the ``decimal_mode``; an
    explicit value always wins:

    ===================  ========================  ===========================
    argument             ``'global'``              ``'local'``
    ===================  ========================  ===========================
    ``neighbour_votes``  False                     True when ``readout_cells``
                                                   trains around the true cell
    ``vote_power``       1.0 (unused)              3.0
    ``loss``             ``KeypointMSELoss``       ``H3RLoss(mode='bce')``
    ``decimal_loss``     ``DistributionLoss``,     ``DistributionLoss``,
                         ``loss_weight=0.05``      ``loss_weight=2.25``
    ===================  ========================  ===========================

    With :class:`HIHHeatmap` ``(decimal_mode='local')``'s defaults this is
    the recipe of ``configs/hih-local_wflw.py``. The earlier local read-out
    (MSE map, trained at the true cell) is ``readout_cells='truth'`` and
    ``loss=dict(type='KeypointMSELoss', use_target_weight=True)`` with a
    one-cell codec (``decimal_span=1``).

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
        decimal_bins (str): Local mode only: ``'separable'`` x and y bins
            (the softmax of their sum is the product of the per-axis ones,
            as the codec's separable label) or ``'joint'`` d x d bins.
            Defaults to ``'separable'``
        readout_cells (str): Local mode only: where the read-out is trained,
            ``'truth'`` (the true cell only, so it corrects only inside the
            cell), ``'neighbours'`` or ``'jitter'`` (see
            :class:`NeighbourTraining`). ``'auto'`` is ``'neighbours'`` when
            the codec's ``decimal_span`` > 1, else ``'truth'``.
            Defaults to ``'auto'``
        neighbour_votes (bool, optional): At test time read the decimal
            logits at every cell within ``(decimal_span - 1) / 2`` of the
            argmax too and average the points they decode to, weighted by
            the integer scores there. Needs a read-out trained around the
            true cell. Defaults to ``None`` (see the table)
        vote_power (float, optional): The votes' weights are the integer
            scores to this power: above 1 a neighbour counts only where the
            map is nearly as high as at the argmax. Defaults to ``None``
        argmax_blur (float): With votes: the sigma, in cells, of the Gaussian
            that smooths the integer scores before the argmax cell is picked
            (:func:`blurred_argmax_cells`); 0 picks the plain argmax.
            Defaults to 0.
        stack_loss (str): ``'mean'`` (as the official code's one ``MSELoss``
            over the stacked maps) or ``'sum'``. Defaults to ``'mean'``
        loss (dict, optional): Integer heatmap loss, applied to every stack;
            one without ``type`` updates the mode's default. Defaults to
            ``None`` (see the table)
        decimal_loss (dict, optional): Decimal loss, likewise. Defaults to
            ``None``
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
                 neighbour_votes: Optional[bool] = None,
                 vote_power: Optional[float] = None,
                 argmax_blur: float = 0.,
                 stack_loss: str = 'mean',
                 loss: OptConfigType = None,
                 decimal_loss: OptConfigType = None,
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
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder else None
        if not hasattr(self.decoder, 'decimal_size'):
            raise ValueError(
                'HIHHead needs decoder=codec, an HIHHeatmap config (the '
                'heatmap and decimal sizes fix the decimal branch); got '
                f'{type(self.decoder).__name__}')
        defaults = MODE_DEFAULTS[decimal_mode]
        # a loss without type (--cfg-options) updates the mode's default
        if loss is None or 'type' not in loss:
            loss = dict(defaults['loss'], **(loss or {}))
        if decimal_loss is None or 'type' not in decimal_loss:
            decimal_loss = dict(defaults['decimal_loss'],
                                **(decimal_loss or {}))
        if vote_power is None:
            vote_power = defaults['vote_power']
        self.decimal_mode = decimal_mode
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heatmaps_from_backbone = heatmaps_from_backbone
        self.integer = IntegerHeatmaps(loss, self.decoder.heatmap_size,
                                       stack_loss)
        self.decimal_loss_module = MODELS.build(decimal_loss)
        self._set_readout(readout_cells, neighbour_votes, vote_power)
        if argmax_blur and not (argmax_blur > 0 and self.neighbour_votes):
            raise ValueError(
                f'HIHHead: argmax_blur={argmax_blur} must be a sigma >= 0, '
                'and above 0 it needs the neighbour votes of the local '
                'read-out')
        self.argmax_blur = argmax_blur

        feat_channels = in_channels
        if not heatmaps_from_backbone:
            self.upsample, self.heatmap_layers, feat_channels = \
                integer_layers(in_channels, out_channels,
                               deconv_out_channels)
        elif deconv_out_channels:
            raise ValueError(
                'HIHHead: deconv_out_channels needs '
                'heatmaps_from_backbone=False; a stacked backbone already '
                'outputs heatmap-sized features')
        else:
            self.heatmap_layers = None
        self.feat_channels = feat_channels
        if decimal_mode == 'local':
            self.decimal_readout = LocalDecimalReadout(
                feat_channels, decimal_channels, out_channels,
                self.decoder.decimal_size, decimal_bins)
        else:
            self.decimal_layers = GlobalDecimalBranch(
                feat_channels, decimal_channels, out_channels,
                self.decoder.heatmap_size, self.decoder.decimal_size)

    def _set_readout(self, readout_cells: str,
                     neighbour_votes: Optional[bool],
                     vote_power: float) -> None:
        """Where the local read-out is trained, and whether it votes."""
        span = getattr(self.decoder, 'decimal_span', 1)
        if readout_cells == 'auto':
            readout_cells = 'neighbours' if span > 1 else 'truth'
        if readout_cells != 'truth':
            if self.decimal_mode != 'local' or span < 3:
                raise ValueError(
                    f'HIHHead: readout_cells={readout_cells!r} trains the '
                    'local read-out around the true cell; it needs '
                    "decimal_mode='local' and a codec with decimal_span >= 3 "
                    f'(got {self.decimal_mode!r} and decimal_span={span})')
            if self.decoder.decimal_label != 'gaussian':
                raise ValueError(
                    f'HIHHead: readout_cells={readout_cells!r} builds '
                    'Gaussian labels for the neighbouring cells; set the '
                    "codec's decimal_label='gaussian'")
        if neighbour_votes is None:
            neighbour_votes = self.decimal_mode == 'local' and \
                readout_cells != 'truth'
        if neighbour_votes and readout_cells == 'truth':
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

    loss_module = property(lambda self: self.integer.loss_module)

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
            cells = argmax_cells(heatmaps[-1])
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
        check_sizes(heatmaps, feature, self.decoder.heatmap_size,
                    self.out_channels, self.in_channels, self.feat_channels)
        return self.integer.with_prior(heatmaps), feature

    def _view_maps(self, feats: Features) -> tuple:
        """What one view decodes from: the last integer maps as scores
        (B, K, H, W), the decimal distributions, and with votes their cells
        and weights; see :meth:`HIHHeatmap.decode_tensors`."""
        if not self.neighbour_votes:
            heatmaps, logits = self.forward(feats)
            return (self.integer.probs(heatmaps[-1]), softmax_maps(logits),
                    None, None)
        heatmaps, feature = self._heatmaps_and_feature(feats)
        scores = self.integer.probs(heatmaps[-1])
        probs, near, weights = neighbour_votes(
            self.decimal_readout, feature, scores,
            blurred_argmax_cells(scores, self.argmax_blur),
            self.decoder.decimal_span, self.vote_power)
        return scores, probs, near, weights

    def decode_tensors(self, feats: Features) -> Tuple[Tensor, Tensor]:
        """Keypoints (B, K, 2) in input pixels and scores (B, K) of one
        view, in torch operators (the decoding of the exported ONNX
        graph)."""
        return self.decoder.decode_tensors(*self._view_maps(feats))

    def _predict_view(self, feats: Features) -> tuple:
        """Decode one view: the last heatmaps (B, K, H, W), the decimal
        distributions at the argmax cells (B, K, d, d), and the
        predictions (``InstanceData`` per sample)."""
        heatmaps, probs, cells, weights = self._view_maps(feats)
        at_argmax = probs
        if cells is not None:
            centre = cells.shape[2] // 2  # the middle of the 3x3 cells
            at_argmax = probs[:, :, centre].clone()
        kpts, scores = self.decoder.batch_decode(heatmaps, probs, cells,
                                                 weights)
        preds = [
            InstanceData(keypoints=k, keypoint_scores=s)
            for k, s in zip(kpts, scores)
        ]
        return heatmaps, at_argmax, preds

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
            heatmaps, probs, preds = self._predict_view(feats[0])
            heatmaps_f, probs_f, preds_f = self._predict_view(feats[1])
            preds = average_flipped_instances(preds, preds_f, flip_indices,
                                              self.decoder.input_size[0])
            heatmaps = average_flipped_maps(
                heatmaps, heatmaps_f, flip_indices,
                test_cfg.get('shift_heatmap', False))
            probs = average_flipped_maps(probs, probs_f, flip_indices)
        else:
            heatmaps, probs, preds = self._predict_view(feats)

        if test_cfg.get('output_heatmaps', False):
            pred_fields = [PixelData(heatmaps=hm) for hm in heatmaps.detach()]
            for field, p in zip(pred_fields, probs.detach()):
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
        local = self.decimal_mode == 'local'
        labels = gather_labels(batch_data_samples, self.out_channels,
                               self.decoder.decimal_size, local,
                               local and self.readout_cells != 'truth')
        if self.readout_cells == 'truth':
            heatmaps, logits = self.forward(feats, labels.cells)
            loss_decimal = self.decimal_loss_module(logits, labels.decimal,
                                                    labels.keypoint_weights)
        else:
            heatmaps, feature = self._heatmaps_and_feature(feats)
            training = NeighbourTraining(self.decoder, self.readout_cells,
                                         self.decimal_loss_module)
            loss_decimal = training.loss(self.decimal_readout, feature,
                                         labels.cells, labels.offsets,
                                         labels.keypoint_weights)

        losses = dict(
            loss_kpt=self.integer.loss(heatmaps, labels.heatmaps,
                                       labels.keypoint_weights),
            loss_decimal=loss_decimal)
        if train_cfg.get('compute_acc', True):
            losses.update(acc_pose=self.integer.accuracy(
                heatmaps[-1], labels.heatmaps, labels.keypoint_weights))
        return losses
