# Each module registers itself on import; add one import line per module.
from .h3r_heatmap import H3RHeatmap  # noqa: F401
from .hih_heatmap import HIHHeatmap  # noqa: F401
