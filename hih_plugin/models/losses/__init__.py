# Each module registers itself on import; add one import line per module.
from .distribution_loss import DistributionLoss  # noqa: F401
from .h3r_loss import H3RLoss  # noqa: F401
