# Each module registers itself on import; add one import line per module.
from .face_metrics import FailureRateAUC  # noqa: F401
