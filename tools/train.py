"""Train a pose model; the command line of MMPose's ``tools/train.py``."""
import os
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (ArgumentParser, add_common_args, apply_common_args,
                            cli_main, load_config, parse_args)
from hih_plugin.cli.checks.model import check_resume_fits, resume_source
from hih_plugin.cli.checks.run import check_run_data
from hih_plugin.cli.dist import setup_cpu_distributed
from hih_plugin.engine import DataOnlyRunner
from hih_plugin.errors import UserError


def build_parser():
    parser = ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or with no path from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual over the base batch size')
    add_common_args(parser)
    return parser


def merge_args(cfg, args):
    cfg = apply_common_args(cfg, args)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise UserError(f'--amp needs optim_wrapper.type OptimWrapper, '
                            f'but the config has {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.no_validate:
        # after --cfg-options, which may still name val_* keys
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    return cfg


def amp_device_available():
    """Whether MMEngine's AmpOptimWrapper has a device to run on."""
    from mmengine import device
    return any(getattr(device, f'is_{name}_available', lambda: False)()
               for name in ('cuda', 'npu', 'mlu', 'musa'))


@cli_main
def main():
    enable_safe_loader()
    args = parse_args(build_parser())
    cfg = merge_args(load_config(args.config), args)
    check_run_data(cfg, ('train', 'val'))
    if args.amp and not amp_device_available():
        raise UserError('--amp needs a GPU (CUDA, NPU, MLU or MUSA), and '
                        'none is available; drop --amp to train in float32')
    resume_source(cfg)  # the work dir's last_checkpoint, the checkpoint
    cfg = setup_cpu_distributed(cfg)
    # checkpoints bring no code: resume drops their config text
    runner = DataOnlyRunner.from_cfg(cfg)
    # MMEngine resumes non-strictly: refuse a checkpoint of another model,
    # or one that cannot resume a run, before training starts.
    check_resume_fits(runner.model, cfg)
    start = time.perf_counter()
    runner.train()
    minutes = (time.perf_counter() - start) / 60
    runner.logger.info(f'training took {minutes:.1f} min (wall time)')


if __name__ == '__main__':
    main()
