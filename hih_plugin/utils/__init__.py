from .checkpoint import CheckpointError, load_file, register_checkpoint_loader
from .cli import UserError

__all__ = [
    'CheckpointError', 'load_file', 'register_checkpoint_loader', 'UserError'
]
