"""Command-line plumbing shared by ``tools/*.py``.

Errors a user can fix (a wrong path, a bad config, a refused checkpoint) are
raised as :class:`UserError` and printed as one line naming the problem and the
fix, with a non-zero exit, instead of a traceback from deep inside the runner.
"""
import argparse
import functools
import os
import os.path as osp
import pickle
import sys

from mmengine.config import Config, DictAction

DATA_PREP_DOC = 'README.md, section "Data preparation"'


class UserError(Exception):
    """An error the user can fix; reported in one line, without traceback."""


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that MMPose's ``tools/train.py`` and ``tools/test.py`` share."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
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


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str) -> Config:
    if not osp.isfile(path):
        raise UserError(f'config file not found: {path}')
    return Config.fromfile(path)


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


def _dataset_cfgs(dataset):
    """Yield the leaf dataset configs of a (possibly wrapped) dataset."""
    if dataset is None:
        return
    if 'datasets' in dataset:  # CombinedDataset / ConcatDataset
        for sub in dataset['datasets']:
            yield from _dataset_cfgs(sub)
    elif 'dataset' in dataset:  # RepeatDataset and other wrappers
        yield from _dataset_cfgs(dataset['dataset'])
    else:
        yield dataset


def check_dataset_paths(cfg: Config, splits) -> None:
    """Fail before the runner starts if a split's data files are missing.

    Args:
        cfg: the merged config.
        splits: names of the dataloaders that will run, e.g.
            ``('train', 'val')``.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader', None)
        if not loader:
            continue
        for ds in _dataset_cfgs(loader.get('dataset')):
            root = ds.get('data_root', '') or ''
            if root and not osp.isdir(root):
                raise UserError(
                    f'{split} data root not found: {root}. Prepare the '
                    f'dataset as described in {DATA_PREP_DOC}, or point the '
                    f'config at it with --cfg-options '
                    f'{split}_dataloader.dataset.data_root=PATH')
            # MMEngine joins ann_file with data_root; MMPose reads the
            # detection and head-box files as given.
            files = [('ann_file', ds.get('ann_file'), True),
                     ('bbox_file', ds.get('bbox_file'), False),
                     ('headbox_file', ds.get('headbox_file'), False)]
            for key, name, under_root in files:
                if not name:
                    continue
                path = osp.join(root, name) if under_root else name
                if not osp.isfile(path):
                    raise UserError(
                        f'{split} {key} not found: {path}. Prepare the '
                        f'dataset as described in {DATA_PREP_DOC}, or set '
                        f'{split}_dataloader.dataset.{key}')


def cli_main(main):
    """Run ``main`` and turn user errors into a one-line message and exit 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f'error: {err}', file=sys.stderr)
            sys.exit(2)
        except pickle.UnpicklingError as err:
            # a torch.load outside hih_plugin.utils.checkpoint.load_file
            # refused a file: name the cause, without torch's advice to
            # turn weights_only off.
            from .checkpoint import torch_refusal
            print(f'error: refused to load the checkpoint: '
                  f'{torch_refusal(err)}; only load checkpoints from sources '
                  'you trust', file=sys.stderr)
            sys.exit(2)

    return wrapper
