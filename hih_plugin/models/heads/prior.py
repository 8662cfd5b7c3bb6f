"""The foreground prior a BCE-trained heatmap starts at."""
import math
from typing import Sequence


def foreground_prior_logit(heatmap_size: Sequence[int]) -> float:
    """The logit of a ``1 / (H * W)`` foreground probability for a heatmap
    of size ``(W, H)``, ``-log(H * W - 1)``: the share of the one positive
    cell of a one-hot target, so that a per-cell BCE does not start by
    pushing every background cell down from 0.5. 0 for a one-cell map,
    whose only cell is always the foreground.

    :class:`H3RHead` sets its final layer's bias to it at initialisation;
    :class:`HIHHead` adds it to the maps in ``forward``, since a stacked
    backbone's maps have no bias in the head to set. Either way the
    untrained maps are near it and a checkpoint keeps its layout.
    """
    width, height = heatmap_size
    cells = width * height
    return -math.log(cells - 1) if cells > 1 else 0.
