"""HIH and H3R sub-pixel heatmap methods for MMPose.

Importing this package registers its codecs, models, metrics, hooks and
transforms into MMPose's registries, so configs only need
``custom_imports=dict(imports=['hih_plugin'])``. It changes nothing else:
MMEngine's checkpoint loader stays as it is until a config or a tool turns
on the restricted one (:mod:`hih_plugin.checkpoint`, docs/checkpoints.md).
"""
# imported to register their classes
from . import codecs, datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
