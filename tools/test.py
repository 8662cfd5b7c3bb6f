"""Test (and evaluate) a pose model, with the command line of MMPose's
tools/test.py.

``--out`` writes the metrics as JSON, which ``tools/publish_model.py`` reads.
It and ``--dump`` are checked before the test runs, and written through a
new temporary file renamed into place; metrics of which a number is NaN or
infinite are refused (exit status 2), not written.
"""
import contextlib
import os
import sys

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import mmengine
import numpy as np
from mmengine.hooks import Hook
from mmengine.runner import Runner

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (ArgumentParser, add_common_args, apply_common_args,
                            cli_main, load_config, parse_args)
from hih_plugin.cli.checks.model import (check_checkpoint_file,
                                         check_checkpoint_fits)
from hih_plugin.cli.checks.run import check_finite_metrics, check_run_data
from hih_plugin.cli.dist import is_main_rank, setup_cpu_distributed
from hih_plugin.cli.outputs import atomic_path, check_output_file
from hih_plugin.errors import UserError

# the formats mmengine.dump writes, by extension
OUT_FORMATS = ('.json', '.yaml', '.yml', '.pkl', '.pickle')


class SaveMetricHook(Hook):
    """Once the test epoch ends, refuse non-finite metrics, and dump them to
    ``out_file`` (if given) through a temporary file renamed into place."""

    def __init__(self, out_file=None):
        self.out_file = out_file

    def after_test_epoch(self, runner, metrics=None):
        check_finite_metrics(metrics)
        if metrics is None or not self.out_file or not is_main_rank():
            return
        try:
            with atomic_path(self.out_file) as tmp:
                mmengine.dump(metrics, tmp)
        except OSError as err:
            raise UserError(f'cannot write --out {self.out_file}: '
                            f'{err.strerror}') from None


class NonFiniteWarningHook(Hook):
    """Warn once the test ends if any prediction was NaN/inf, which a
    mean-based metric may otherwise hide or turn into a bare nan."""

    def __init__(self):
        self.bad = self.total = 0

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        for sample in outputs or ():
            kpts = np.asarray(sample.pred_instances.keypoints)
            self.total += 1
            self.bad += int(not np.isfinite(kpts).all())

    def after_test_epoch(self, runner, metrics=None):
        if self.bad:
            print(f'warning: {self.bad} of {self.total} test images have '
                  'NaN/inf predicted keypoints; the checkpoint may hold '
                  'non-finite weights (train with StopOnNonFiniteHook, as '
                  'our configs do)', file=sys.stderr)


def build_parser():
    parser = ArgumentParser(
        description='MMPose test (and eval) model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='the file to save metric results.')
    parser.add_argument(
        '--dump', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    add_common_args(parser)
    return parser


def check_outputs(args):
    """``--out`` and ``--dump``, before the test runs."""
    if args.out is not None:
        check_output_file(args.out, '--out')
        if not args.out.endswith(OUT_FORMATS):  # as mmengine.dump reads it
            raise UserError(f'--out must name a {", ".join(OUT_FORMATS)} '
                            f'file, got {args.out}')
    if args.dump is not None:
        check_output_file(args.dump, '--dump')
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise UserError(f'--dump must name a .pkl file, got {args.dump}')


def merge_args(cfg, args, dump_path=None):
    """The config with the arguments merged; predictions are dumped to
    ``dump_path`` (default: ``--dump``)."""
    cfg = apply_common_args(cfg, args)
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        dump_metric = dict(type='DumpResults',
                           out_file_path=dump_path or args.dump)
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dump_metric]
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


@cli_main
def main():
    enable_safe_loader()
    args = parse_args(build_parser())
    check_checkpoint_file(args.checkpoint)
    check_outputs(args)
    with contextlib.ExitStack() as stack:
        # rank 0 dumps the predictions (MMEngine's DumpResults)
        dump = (stack.enter_context(atomic_path(args.dump))
                if args.dump and is_main_rank() else None)
        cfg = merge_args(load_config(args.config), args, dump)
        check_run_data(cfg, ('test', ))
        cfg = setup_cpu_distributed(cfg)
        runner = Runner.from_cfg(cfg)
        # The runner loads checkpoints non-strictly; a checkpoint of another
        # model would be tested with random layers. Refuse it, listing the
        # keys.
        check_checkpoint_fits(runner.model, args.checkpoint)
        runner.register_hook(NonFiniteWarningHook(), 'LOWEST')
        runner.register_hook(SaveMetricHook(args.out), 'LOWEST')
        runner.test()


if __name__ == '__main__':
    main()
