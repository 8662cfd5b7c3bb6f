from .hooks import NonFiniteTrainingError, StopOnNonFiniteHook
from .runner import DataOnlyRunner

__all__ = ['DataOnlyRunner', 'NonFiniteTrainingError', 'StopOnNonFiniteHook']
