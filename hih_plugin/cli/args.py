"""Arguments and config loading shared by ``tools/*.py``."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

from ..errors import UserError


def add_cfg_options(parser: argparse.ArgumentParser,
                    help: Optional[str] = None) -> None:
    """``--cfg-options``, as MMPose's tools define it; pass the parsed
    value to :func:`load_config`."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
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
        '--interval', type=int, default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time', type=float, default=1,
        help='display time of every window. (second)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torchrun passes --local-rank, torch.distributed.launch --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_args(
        parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str, cfg_options=None) -> Config:
    """The config at ``path``, with ``--cfg-options`` merged into it as
    MMPose's tools do."""
    if not osp.isfile(path):
        raise UserError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def apply_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Launcher, work dir and visualization, as MMPose's tools set them."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
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
