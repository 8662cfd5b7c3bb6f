# Each module registers itself on import; add one import line per module.
from .h3r_head import H3RHead  # noqa: F401
from .hih_head import HIHHead  # noqa: F401
