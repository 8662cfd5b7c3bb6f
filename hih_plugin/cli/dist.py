"""Multi-process runs on machines without CUDA (CPU processes over gloo).

MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` for every launcher,
which fails where there is no GPU, and its runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU module. The runner
only initialises the process group itself when none exists yet
(``Runner.setup_env``), and takes DDP's arguments from ``model_wrapper_cfg``,
so without CUDA we start the gloo group from torchrun's environment and ask
for a CPU-module wrapper. With CUDA nothing changes: MMEngine does it all.
"""
import datetime
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from ..errors import UserError

DDP_TYPES = ('MMDistributedDataParallel', 'DistributedDataParallel')


def is_main_rank() -> bool:
    """Rank 0 of a distributed run, or a single run.

    Also before the runner starts the process group (where MMEngine's
    ``is_main_process`` says True on every rank): then the launcher's
    environment tells, torchrun's ``RANK`` or srun's ``SLURM_PROCID``.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank() == 0
    rank = os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))
    return rank == '0'


def setup_cpu_distributed(cfg: Config) -> Config:
    """Prepare ``cfg`` (launcher already set) for a CPU multi-process run."""
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    if launcher != 'pytorch':
        raise UserError(
            f'--launcher {launcher} needs GPUs, and CUDA is not available '
            'here; on CPU start the processes with torchrun: '
            'tools/dist_train.sh CONFIG N (or tools/dist_test.sh)')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise UserError(
            f'--launcher pytorch needs the environment torchrun sets '
            f'({", ".join(missing)} missing); start the run with '
            'tools/dist_train.sh CONFIG N (or tools/dist_test.sh)')

    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        # Recorded in the config dumped to the work dir, so the log says
        # which backend really ran.
        dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(backend='gloo', **kwargs)

    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        # the arguments MMEngine passes when it builds the wrapper itself
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type') in DDP_TYPES:
        wrapper['device_ids'] = None  # a CPU module
    cfg.model_wrapper_cfg = wrapper
    return cfg
