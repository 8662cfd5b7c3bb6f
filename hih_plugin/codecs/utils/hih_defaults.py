"""What ``None`` means for :class:`HIHHeatmap`'s arguments, by
``decimal_mode``."""

MODE_DEFAULTS = {
    'global': dict(decimal_size=8, decimal_span=1, sigma=1.5,
                   decode_mode='argmax'),
    'local': dict(decimal_size=24, decimal_span=3, sigma=None,
                  decode_mode='expectation'),
}
# The local integer map's sigma (in cells) that won on real photographs and
# on drawn faces: 0.75 at stride 4, 0.5 at stride 8 (docs/methods.md). A
# stride of 8 or more takes 0.5, a finer one 0.75.
LOCAL_SIGMA = dict(fine=0.75, coarse=0.5, coarse_stride=8)


def hih_mode_defaults(decimal_mode, input_size, heatmap_size) -> dict:
    """The defaults of ``decimal_mode`` for a codec of these sizes; the
    local sigma follows the coarser axis' stride. The sizes are validated
    after this, so a zero size must not fail here first."""
    if decimal_mode not in MODE_DEFAULTS:
        raise ValueError(
            f'HIHHeatmap: decimal_mode={decimal_mode!r} is unknown; use '
            "'global' (the paper's codec) or 'local' (the local "
            "read-out's recipe)")
    defaults = dict(MODE_DEFAULTS[decimal_mode])
    if defaults['sigma'] is None:
        stride = max(i / max(h, 1) for i, h in zip(input_size, heatmap_size))
        defaults['sigma'] = LOCAL_SIGMA[
            'coarse' if stride >= LOCAL_SIGMA['coarse_stride'] else 'fine']
    return defaults
