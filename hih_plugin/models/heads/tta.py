"""The flip test of our heads: decoded coordinates averaged, not maps."""
from typing import List, Sequence

from mmengine.structures import InstanceData
from mmpose.models.utils.tta import flip_heatmaps
from torch import Tensor


def average_flipped_instances(preds: List[InstanceData],
                              preds_flip: List[InstanceData],
                              flip_indices: Sequence[int],
                              width: int) -> List[InstanceData]:
    """Average each prediction with that of the flipped image, in place.

    The flipped view's keypoints are mirrored as MMPose flips images
    (``x -> w - 1 - x``, symmetric keypoints swapped by ``flip_indices``),
    then keypoints and scores are averaged. Averaging maps instead would
    need the flipped map shifted by a fraction of a cell, ``(s - 1) / s``
    for a stride ``s``, which whole-cell shifts cannot do: the sub-cell bias
    a sub-pixel head exists to remove.

    Args:
        preds, preds_flip: One ``InstanceData`` per sample, with
            ``keypoints`` (N, K, 2) in input pixels and ``keypoint_scores``
            (N, K), of the image and of its horizontal flip
        flip_indices: The keypoint each one becomes in the flipped image
        width: Input width ``w`` in pixels

    Returns:
        List[InstanceData]: ``preds``, averaged
    """
    for pred, pred_flip in zip(preds, preds_flip):
        keypoints = pred_flip.keypoints[:, flip_indices].copy()
        keypoints[..., 0] = width - 1 - keypoints[..., 0]
        pred.keypoints = (pred.keypoints + keypoints) * 0.5
        pred.keypoint_scores = (
            pred.keypoint_scores +
            pred_flip.keypoint_scores[:, flip_indices]) * 0.5
    return preds


def average_flipped_maps(maps: Tensor, maps_flip: Tensor,
                         flip_indices: Sequence[int],
                         shift_heatmap: bool = False) -> Tensor:
    """The mean of a view's maps (B, K, h, w) and the flipped view's maps
    flipped back (MMPose's ``flip_heatmaps``), for ``output_heatmaps``:
    visualisation only, the keypoints come from
    :func:`average_flipped_instances`."""
    return (maps + flip_heatmaps(maps_flip, flip_indices=flip_indices,
                                 shift_heatmap=shift_heatmap)) * 0.5
