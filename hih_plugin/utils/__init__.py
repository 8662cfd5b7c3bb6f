from .checkpoint import allow_mmengine_checkpoints
from .cli import UserError

__all__ = ['allow_mmengine_checkpoints', 'UserError']
