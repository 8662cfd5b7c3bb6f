"""Importing this module makes MMEngine load local checkpoints with our
restricted unpickler, for the rest of the process.

It is what a config lists to turn the loader on (docs/checkpoints.md)::

    custom_imports = dict(
        imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
        allow_failed_imports=False)
"""
from .loader import enable_safe_loader

enable_safe_loader()
