"""Data transforms whose randomness MMEngine's seed reaches."""
from typing import Sequence, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur the image with a Gaussian of a random odd kernel size.

    The blur of albumentations' ``GaussianBlur`` (``sigma`` derived from the
    kernel size by OpenCV), but drawing from ``numpy``'s global RNG, as
    MMPose's own random transforms do. MMEngine seeds that RNG in the main
    process and in every DataLoader worker, so the same seed gives the same
    blur; albumentations draws from generators of its own that MMEngine's
    seed does not reach.

    Required Keys:

        - img

    Modified Keys:

        - img

    Args:
        prob (float): Probability of blurring. Defaults to 0.5
        kernel_size (int | Sequence[int]): The kernel size, or the
            inclusive range ``(min, max)`` of odd sizes drawn uniformly.
            Defaults to ``(3, 7)``
    """

    def __init__(self,
                 prob: float = 0.5,
                 kernel_size: Union[int, Sequence[int]] = (3, 7)) -> None:
        super().__init__()
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        low, high = kernel_size
        if not 0 <= prob <= 1:
            raise ValueError(
                f'RandomGaussianBlur: prob={prob} must lie in [0, 1]')
        if low % 2 == 0 or high % 2 == 0 or not 1 <= low <= high:
            raise ValueError(
                f'RandomGaussianBlur: kernel_size={tuple(kernel_size)} must '
                'be odd sizes (min, max) with 1 <= min <= max, e.g. (3, 7)')
        self.prob = prob
        self.kernel_size = (low, high)

    @cache_randomness
    def _draw(self):
        if np.random.rand() >= self.prob:
            return None
        low, high = self.kernel_size
        return 2 * np.random.randint(low // 2, high // 2 + 1) + 1

    def transform(self, results: dict) -> dict:
        size = self._draw()
        if size is not None and size > 1:
            results['img'] = cv2.GaussianBlur(results['img'], (size, size), 0)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'kernel_size={self.kernel_size})')
