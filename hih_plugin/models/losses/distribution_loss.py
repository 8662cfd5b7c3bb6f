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
        log_p = F.log_softmax(output.flatten(2).float(), dim=-1)
        t = target.flatten(2).float()
        # xlogy gives 0 * log 0 = 0 for empty bins
        kl = (torch.xlogy(t, t) - t * log_p).sum(-1) / t.shape[-1]
        if self.use_target_weight and target_weights is not None:
            kl = kl * target_weights.to(kl)
        return kl.mean() * self.loss_weight
