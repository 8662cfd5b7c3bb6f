# What every config here inherits: MMEngine imports these modules when it
# reads the config. `hih_plugin` registers our codecs, heads, losses and
# metrics; `hih_plugin.checkpoint.enable` makes MMEngine load checkpoints
# with our restricted loader (docs/checkpoints.md), for `load_from`,
# `resume`, `mim test` and the inferencer alike. A config of yours that
# mixes in our parts needs the same line (docs/methods.md, "Mixing our parts
# into your models").
custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)
