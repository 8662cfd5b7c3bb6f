"""HIH and H3R sub-pixel heatmap methods for MMPose.

Importing this package registers its codecs, models and metrics into MMPose's
registries, so configs only need ``custom_imports=dict(imports=['hih_plugin'])``.
It also allow-lists the classes of an MMEngine checkpoint for
``torch.load(weights_only=True)``; see :mod:`hih_plugin.utils.checkpoint`.
"""
from . import codecs, evaluation, models  # noqa: F401  (registration)
from .utils import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
