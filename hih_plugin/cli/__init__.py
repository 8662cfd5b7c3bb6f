"""Code only ``tools/`` use: argument and config handling, reading input
and writing output files, the entry point wrapper, and (in
:mod:`.checks`) the checks a tool runs before MMEngine's runner starts.

The library (codecs, models, evaluation, engine, datasets) never imports
this package; tests/test_layers.py checks that.
"""
from .args import (ArgumentParser, add_cfg_options, add_common_args,
                   apply_common_args, load_config, number, parse_args)
from .main import cli_main, one_line

__all__ = [
    'ArgumentParser', 'add_cfg_options', 'add_common_args',
    'apply_common_args', 'cli_main', 'load_config', 'number', 'one_line',
    'parse_args'
]
