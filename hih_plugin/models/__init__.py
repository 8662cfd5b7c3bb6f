from . import backbones, heads, losses  # noqa: F401  (registration)
