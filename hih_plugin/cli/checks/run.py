"""The checks ``tools/train.py``, ``tools/test.py`` and
``tools/analysis/face_eval.py`` run around MMEngine's runner: the data
before it starts, the metrics after it ends."""
import math
import numbers

import numpy as np

from ...errors import UserError
from .data import check_dataset_content, warn_unchecked_loading
from .paths import check_dataset_paths


def check_run_data(cfg, splits) -> None:
    """Before the runner starts: every file of the ``splits`` exists and is
    readable data (:mod:`~hih_plugin.cli.checks.paths`,
    :mod:`~hih_plugin.cli.checks.data`); a warning if a pipeline loads
    images without checking them.
    """
    check_dataset_paths(cfg, splits)
    check_dataset_content(cfg, splits)
    warn_unchecked_loading(cfg, splits)


def check_finite_metrics(metrics, where: str = 'the test') -> None:
    """Refuse metrics of which a number is NaN or infinite: a tool must not
    write or report them as a result (exit 0). Non-numeric entries are left
    alone."""
    for key, value in (metrics or {}).items():
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            raise UserError(
                f'metric {key} of {where} is {value}, not a finite number, '
                'so no result is written: the checkpoint may hold non-finite '
                'weights, or the annotations non-finite values')
