"""Arguments and config loading shared by ``tools/*.py``."""
import argparse
import math
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

from ..errors import UserError
from .files import MiB, check_regular_file

# A config is Python code (MMPose's convention); this bounds only its size.
MAX_CONFIG_BYTES = 16 * MiB


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line: a bad argument raises a
    UserError, which :func:`~hih_plugin.cli.cli_main` prints as ``error:
    ...`` with exit status 2, as argparse's own exit would be, instead of
    the usage text and a line starting with the program's name."""

    def error(self, message):
        raise UserError(f'{message}; see {self.prog} --help')


def number(kind=int, low=None, high=None):
    """An argparse ``type`` that reads an int or float in ``[low, high]``
    (either end may be None) and refuses anything else, NaN and infinity
    included, with argparse's error naming the argument."""
    noun = 'a whole number' if kind is int else 'a number'
    if low is not None and high is not None:
        allowed = f'{noun} from {low:g} to {high:g}'
    elif low is not None:
        allowed = f'{noun} of at least {low:g}'
    elif high is not None:
        allowed = f'{noun} of at most {high:g}'
    else:
        allowed = f'a finite {noun[2:]}'

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or (
                low is not None and value < low) or (
                    high is not None and value > high):
            raise argparse.ArgumentTypeError(f'{text!r} is not {allowed}')
        return value

    parse.__name__ = kind.__name__  # argparse's name for the type
    return parse


class _CfgOptions(DictAction):
    """MMEngine's ``DictAction``, refusing an entry without ``KEY=``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            key, equals, _ = item.partition('=')
            if not equals or not key.strip():
                raise argparse.ArgumentError(
                    self, f'{item!r} is not KEY=VALUE, e.g. '
                    'train_dataloader.batch_size=8')
        super().__call__(parser, namespace, values, option_string)


def add_cfg_options(parser: argparse.ArgumentParser,
                    help: Optional[str] = None) -> None:
    """``--cfg-options``, as MMPose's tools define it; pass the parsed
    value to :func:`load_config`."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=_CfgOptions,
        help=help or 'override some settings in the used config, the '
        'key-value pair in xxx=yyy format will be merged into config file.')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that MMPose's ``tools/train.py`` and ``tools/test.py``
    share."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    add_cfg_options(parser)
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='whether to display the prediction results in a window.')
    parser.add_argument(
        '--interval', type=number(int, 1), default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time', type=number(float, 0, 3600), default=1,
        help='display time of every window. (second)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torchrun passes --local-rank, torch.distributed.launch --local_rank.
    parser.add_argument('--local_rank', '--local-rank',
                        type=number(int, 0, 65535), default=0)


def parse_args(
        parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str, cfg_options=None) -> Config:
    """The config at ``path``, with ``--cfg-options`` merged into it as
    MMPose's tools do."""
    check_regular_file(path, 'config file', MAX_CONFIG_BYTES)
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_folder(path: str, flag: str) -> None:
    """Refuse a folder the run would create or write into that is a file
    (or a FIFO, a device), before the run, without creating it."""
    if osp.lexists(path) and not osp.isdir(path):
        raise UserError(f'{flag} {path} exists and is not a folder; pass a '
                        'folder (it is created if missing)')


def apply_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Launcher, work dir and visualization, as MMPose's tools set them."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_folder(cfg.work_dir, '--work-dir')
    if args.show_dir is not None:
        # MMPose's hook puts a relative one in <work_dir>/<timestamp>/
        check_folder(osp.join(cfg.work_dir, args.show_dir), '--show-dir')
    if args.show or args.show_dir is not None:
        if 'visualization' not in cfg.default_hooks:
            raise UserError(
                'the config has no default_hooks.visualization; add '
                'visualization=dict(type="PoseVisualizationHook") to it')
        vis = cfg.default_hooks.visualization
        vis.enable = True
        vis.show = args.show
        if args.show:
            vis.wait_time = args.wait_time
        vis.out_dir = args.show_dir
        vis.interval = args.interval
    return cfg
