"""Model batches from images and keypoints, through MMPose's top-down
transforms, for the tools here that train and time models outside a runner
(``subpixel_benchmark.py``, ``head_cost.py``)."""
import copy

import numpy as np
from mmengine.dataset import pseudo_collate
from mmpose.datasets.transforms import (GenerateTarget, GetBBoxCenterScale,
                                        PackPoseInputs, TopdownAffine)


class Batcher:
    """Turns images into model batches with MMPose's top-down transforms."""

    def __init__(self, size, codec=None, padding=1.0, augment=(),
                 flip_indices=None):
        """``augment``: MMPose transforms run between the box and the crop
        (random flip, box transform); a flip needs ``flip_indices``."""
        self.transforms = [GetBBoxCenterScale(padding=padding), *augment,
                           TopdownAffine(input_size=(size, size))]
        self.meta = {} if flip_indices is None else dict(
            flip_indices=list(flip_indices))
        if codec is not None:
            self.transforms.append(
                GenerateTarget(encoder=copy.deepcopy(codec)))
        self.transforms.append(PackPoseInputs())
        self.size = size

    def __call__(self, imgs, kpts, boxes):
        items = []
        for img, kp, box in zip(imgs, kpts, boxes):
            results = dict(
                img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                bbox=np.asarray(box, np.float32)[None],
                bbox_score=np.ones(1, np.float32),
                keypoints=kp[None].astype(np.float32),
                keypoints_visible=np.ones((1, len(kp)), np.float32),
                **self.meta)
            for t in self.transforms:
                results = t(results)
            items.append(results)
        return pseudo_collate(items)
