from .hooks import NonFiniteTrainingError, StopOnNonFiniteHook

__all__ = ['NonFiniteTrainingError', 'StopOnNonFiniteHook']
