"""KL divergence between a soft label and softmax logits (HIH's CSC loss)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class DistributionLoss(nn.Module):
    """``KL(target || softmax(logits))`` over the ``h * w`` bins of each
    keypoint's map, the coordinate soft-classification loss of HIH.

    The per-keypoint KL is divided by ``h * w`` and averaged over B x K,
    which equals the element-wise mean the HIH authors use, so that
    ``loss_weight=0.05`` carries the paper's meaning.

    Args:
        use_target_weight (bool): Weight each keypoint by its
            ``keypoint_weights``. Defaults to ``True``
        loss_weight (float): Weight of the loss. Defaults to 1.0
    """

    def __init__(self,
                 use_target_weight: bool = True,
                 loss_weight: float = 1.) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """Forward function of loss.

        Args:
            output (Tensor): Logits in shape (B, K, h, w)
            target (Tensor): Soft labels in shape (B, K, h, w), each summing
                to 1 over (h, w)
            target_weights (Tensor, optional): Keypoint weights in shape
                (B, K)

        Returns:
            Tensor: The loss, a scalar.
        """
        if output.shape != target.shape:
            raise ValueError(
                f'DistributionLoss: logits {tuple(output.shape)} and soft '
                f'labels {tuple(target.shape)} differ in shape; the head and '
                'codec must agree on decimal_size and instances per sample')
        kl = _kl(output.flatten(2), target.flatten(2)) / target[0, 0].numel()
        return self._reduce(kl, target_weights)

    def separable(self,
                  output: Tensor,
                  target: Tensor,
                  target_weights: Optional[Tensor] = None) -> Tensor:
        """The same loss for separable logits and labels, given per axis.

        With joint logits ``ly[:, None] + lx[None, :]`` and a joint label
        ``ty[:, None] * tx[None, :]``, the KL of the (d, d) distributions is
        the sum of the per-axis KLs, so this returns exactly what
        :meth:`forward` returns on the joint maps, at O(d) instead of
        O(d^2) per keypoint.

        Args:
            output (Tensor): x and y logits in shape (B, K, 2, d)
            target (Tensor): x and y labels in shape (B, K, 2, d), each
                summing to 1 over d
            target_weights (Tensor, optional): Weights in shape (B, K)
        """
        if output.shape != target.shape or output.shape[-2] != 2:
            raise ValueError(
                f'DistributionLoss.separable: logits {tuple(output.shape)} '
                f'and labels {tuple(target.shape)} must both be (B, K, 2, d)')
        kl = _kl(output, target).sum(-1) / target.shape[-1]**2
        return self._reduce(kl, target_weights)

    def _reduce(self, kl: Tensor, target_weights: Optional[Tensor]) -> Tensor:
        if self.use_target_weight and target_weights is not None:
            kl = kl * target_weights.to(kl)
        return kl.mean() * self.loss_weight


def _kl(logits: Tensor, target: Tensor) -> Tensor:
    """KL(target || softmax(logits)) over the last axis."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    t = target.float()
    # xlogy gives 0 * log 0 = 0 for empty bins
    return (torch.xlogy(t, t) - t * log_p).sum(-1)
