"""Code only ``tools/`` use: argument and config handling, the checks a
tool runs before MMEngine's runner starts, and the entry point wrapper.

The library (codecs, models, evaluation, engine, datasets) never imports
this package; tests/test_layers.py checks that.
"""
from .args import (ArgumentParser, add_cfg_options, add_common_args,
                   apply_common_args, load_config, number, parse_args)
from .main import cli_main, one_line
from .path_check import check_dataset_paths, leaf_datasets

__all__ = [
    'ArgumentParser', 'add_cfg_options', 'add_common_args',
    'apply_common_args',
    'check_dataset_paths', 'cli_main', 'leaf_datasets', 'load_config',
    'number', 'one_line', 'parse_args'
]
