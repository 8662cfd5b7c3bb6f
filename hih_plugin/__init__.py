"""HIH and H3R sub-pixel heatmap methods for MMPose.

Importing this package registers its codecs, models, metrics, hooks and
transforms into MMPose's registries. It changes nothing else: MMEngine's
checkpoint loader stays as it is until a config or a tool turns on the
restricted one (:mod:`hih_plugin.checkpoint`, docs/checkpoints.md). A config
does both with ``custom_imports = dict(imports=['hih_plugin',
'hih_plugin.checkpoint.enable'], allow_failed_imports=False)``, the line of
``configs/_base_/hih_plugin.py``.
"""
# imported to register their classes
from . import codecs, datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
