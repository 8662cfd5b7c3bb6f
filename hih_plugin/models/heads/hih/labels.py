"""The training labels HIHHeatmap writes, gathered and checked for
HIHHead."""
from typing import NamedTuple, Optional

import torch
from mmpose.utils.typing import OptSampleList
from torch import Tensor


class Labels(NamedTuple):
    heatmaps: Tensor  # (B, K, H, W)
    decimal: Tensor  # (B, K, d, d)
    keypoint_weights: Tensor  # (B, K)
    cells: Optional[Tensor]  # (B, K, 2), integer; local mode
    offsets: Optional[Tensor]  # (B, K, 2); training at the neighbours


def gather_labels(batch_data_samples: OptSampleList, num_keypoints: int,
                  decimal_size: int, cells: bool, offsets: bool) -> Labels:
    """The batch's targets, with the true ``cells`` and the ``offsets``
    from them if asked for, or a ``ValueError`` naming what to fix."""
    labels = [d.gt_instance_labels for d in batch_data_samples]
    gt_decimal = torch.cat([lb.decimal_heatmaps for lb in labels])
    expected = (len(labels), num_keypoints, *gt_decimal.shape[-2:])
    if (tuple(gt_decimal.shape) != expected
            or gt_decimal.shape[-1] != decimal_size):
        raise ValueError(
            f'HIHHead: decimal labels {tuple(gt_decimal.shape)} do not '
            f'fit a batch of {len(labels)} with {num_keypoints} '
            f'keypoints and decimal_size={decimal_size}; '
            'the head trains one instance per sample (top-down) and '
            'needs the same HIHHeatmap codec in GenerateTarget and in '
            'the head')
    needed = ('keypoint_cells', ) * cells + ('keypoint_offsets', ) * offsets
    for key in needed:
        if not all(key in lb for lb in labels):
            raise ValueError(
                "HIHHead(decimal_mode='local') reads the ground-truth"
                f' cells from gt_instance_labels.{key}, which '
                'HIHHeatmap writes; encode the targets with '
                'HIHHeatmap in GenerateTarget')
    return Labels(
        heatmaps=torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples]),
        decimal=gt_decimal,
        keypoint_weights=torch.cat([lb.keypoint_weights for lb in labels]),
        cells=torch.cat([lb.keypoint_cells for lb in labels]).round().long()
        if cells else None,
        offsets=torch.cat([lb.keypoint_offsets for lb in labels])
        if offsets else None)
