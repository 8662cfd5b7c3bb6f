# Each module registers itself on import; add one import line per module.
from .hih_hourglass import HIHHourglass  # noqa: F401
