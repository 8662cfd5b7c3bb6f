"""The local decimal read-out: logits read at each keypoint's own cell."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

DECIMAL_BINS = ('separable', 'joint')


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
