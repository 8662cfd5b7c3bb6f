# Each module registers itself on import; add one import line per module.
from .h3r_loss import H3RLoss  # noqa: F401
from .distribution_loss import DistributionLoss  # noqa: F401
