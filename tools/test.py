"""Test (and evaluate) a pose model, with the command line of MMPose's
tools/test.py.

``--out`` writes the metrics as JSON, which ``tools/publish_model.py`` reads.
"""
import argparse
import os
import os.path as osp
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
from hih_plugin.cli import (add_common_args, apply_common_args,
                            check_dataset_paths, cli_main, load_config,
                            parse_args)
from hih_plugin.cli.data_check import (check_dataset_content,
                                       check_image_loading)
from hih_plugin.cli.dist import setup_cpu_distributed
from hih_plugin.cli.model_check import check_checkpoint_fits
from hih_plugin.errors import UserError


class SaveMetricHook(Hook):
    """Dump the test metrics to a file once the test epoch ends."""

    def __init__(self, out_file):
        self.out_file = out_file

    def after_test_epoch(self, runner, metrics=None):
        if metrics is not None:
            mmengine.dump(metrics, self.out_file)


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
    parser = argparse.ArgumentParser(
        description='MMPose test (and eval) model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='the file to save metric results.')
    parser.add_argument(
        '--dump', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    add_common_args(parser)
    return parser


def merge_args(cfg, args):
    cfg = apply_common_args(cfg, args)
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise UserError(f'--dump must name a .pkl file, got {args.dump}')
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
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
    if not osp.isfile(args.checkpoint):
        raise UserError(f'checkpoint not found: {args.checkpoint}')
    cfg = merge_args(load_config(args.config), args)
    check_dataset_paths(cfg, ('test', ))
    check_dataset_content(cfg, ('test', ))
    check_image_loading(cfg, ('test', ))
    cfg = setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    # The runner loads checkpoints non-strictly; a checkpoint of another
    # model would be tested with random layers. Refuse it, listing the keys.
    check_checkpoint_fits(runner.model, args.checkpoint)
    runner.register_hook(NonFiniteWarningHook(), 'LOWEST')
    if args.out:
        runner.register_hook(SaveMetricHook(args.out), 'LOWEST')
    runner.test()


if __name__ == '__main__':
    main()
