"""HIH and H3R sub-pixel heatmap methods for MMPose.

Importing this package registers its codecs, models and metrics into MMPose's
registries, so configs only need ``custom_imports=dict(imports=['hih_plugin'])``.
It also makes MMEngine load local checkpoints with a restricted unpickler
that still opens MMEngine's own checkpoints; see
:mod:`hih_plugin.utils.checkpoint`.
"""
import os

# albumentations (imported by mmpose's transforms) asks the package index for
# a newer version at import time; training must not depend on the network.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

from . import (codecs, datasets, engine, evaluation,  # noqa: E402,F401
               models)  # (registration)
from .utils import register_checkpoint_loader  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_loader()

__all__ = ['__version__']
