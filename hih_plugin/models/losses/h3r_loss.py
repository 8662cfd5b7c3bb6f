"""Training loss for H3R one-hot heatmap targets."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class H3RLoss(nn.Module):
    """Loss on H3R heatmap logits against the (randomly rounded) one-hot
    target of :class:`H3RHeatmap`.

    The H3R authors released inference code only, so the loss is our
    choice. The released checkpoints behave like per-pixel binary
    cross-entropy (foreground against background at every pixel) on the
    one-hot target without heavy positive weighting, so that is the default
    (``mode='bce'``): BCE with logits, averaged over pixels. The alternative
    ``mode='softmax'`` is a spatial softmax cross-entropy: one ``H*W``-way
    classification per keypoint against the target normalised to sum to 1
    (which also accepts the bilinear expected target).

    ``softmax_weight`` adds that spatial softmax cross-entropy to the BCE,
    divided by ``H*W`` so that its gradient per cell has BCE's scale. BCE
    trains every cell on its own: where the keypoint is hard to see, it
    may push the whole map towards 0 and leave the order of the cells,
    which the argmax reads, untrained. The softmax term trains that order:
    one cell per map must win.

    Args:
        mode (str): ``'bce'`` or ``'softmax'``. Defaults to ``'bce'``
        softmax_weight (float): ``mode='bce'`` only: weight of the added
            spatial softmax term. Defaults to 0 (BCE alone)
        use_target_weight (bool): Weight each keypoint's loss by
            ``keypoint_weights``, so invisible and out-of-map keypoints do
            not train their channel. Defaults to ``True``
        loss_weight (float): Weight of the loss. Defaults to 1.0
    """

    def __init__(self,
                 mode: str = 'bce',
                 softmax_weight: float = 0.,
                 use_target_weight: bool = True,
                 loss_weight: float = 1.) -> None:
        super().__init__()
        if mode not in ('bce', 'softmax'):
            raise ValueError(f'H3RLoss: unknown mode {mode!r}; use '
                             "mode='bce' (default) or mode='softmax'")
        if softmax_weight < 0 or (softmax_weight and mode != 'bce'):
            raise ValueError(
                f'H3RLoss: softmax_weight={softmax_weight} must be >= 0, '
                "and is added to mode='bce' only")
        self.mode = mode
        self.softmax_weight = softmax_weight
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """Forward function of loss.

        Note:
            - batch_size: B
            - num_keypoints: K
            - heatmaps height: H
            - heatmaps weight: W

        Args:
            output (Tensor): The output logits in shape (B, K, H, W)
            target (Tensor): The target heatmaps in shape (B, K, H, W)
            target_weights (Tensor, optional): The target weights of
                different keypoints, in shape (B, K)

        Returns:
            Tensor: The calculated loss.
        """
        if self.mode == 'bce':
            loss = F.binary_cross_entropy_with_logits(
                output, target, reduction='none').flatten(2).mean(dim=-1)
            if self.softmax_weight:
                cells = output.shape[-2] * output.shape[-1]
                loss = loss + self.softmax_weight / cells * \
                    self._softmax_ce(output, target)
        else:
            loss = self._softmax_ce(output, target)
        if self.use_target_weight and target_weights is not None:
            loss = loss * target_weights
        return loss.mean() * self.loss_weight

    @staticmethod
    def _softmax_ce(output: Tensor, target: Tensor) -> Tensor:
        """Spatial softmax cross-entropy per keypoint (B, K)."""
        target = target.flatten(2)
        # Channels without a target (weight 0) must not divide by zero.
        target = target / target.sum(dim=-1, keepdim=True).clamp_min(
            torch.finfo(target.dtype).tiny)
        return -(target * output.flatten(2).log_softmax(dim=-1)).sum(-1)
