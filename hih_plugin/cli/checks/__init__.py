"""The checks a tool runs before MMEngine's runner starts (and on what it
ends with), so that a problem a user can fix stops the run with one
``error:`` line naming it and the fix:

- :mod:`.paths`: every file the run opens exists;
- :mod:`.data` and :mod:`.annotations`: the annotations and images can be
  used;
- :mod:`.model`: a checkpoint fits the model, or can resume the run;
- :mod:`.meta`: a checkpoint's ``dataset_meta`` fits the config;
- :mod:`.run`: the checks of a training or test run, and its metrics.
"""
from .paths import check_dataset_paths, leaf_datasets

__all__ = ['check_dataset_paths', 'leaf_datasets']
