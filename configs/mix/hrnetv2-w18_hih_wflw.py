# MMPose's stock HRNetV2-W18 WFLW config (256x256 input, 64x64 heatmaps) with
# HIH's codec, head and loss, with the local read-out of hih-local_wflw.py:
# the integer heatmap a per-cell BCE against a Gaussian target, and a decimal
# distribution per landmark that classifies the offset from its cell
# (coordinate soft-classification, trained with the distribution loss).
# Backbone, neck, data pipeline, schedule and evaluation stay MMPose's.
_base_ = [
    'mmpose::face_2d_keypoint/topdown_heatmap/wflw/'
    'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py', '../_base_/hih_plugin.py'
]
# after _base_: a config opening with an import is read as lazy-import
from hih_plugin.datasets import checked_pipeline  # noqa: E402

# Stop at the first NaN/inf loss and never save NaN/inf weights
# (docs/training.md, "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

# A new name on purpose: a dict named `codec` would be merged into the base's
# MSRAHeatmap dict, and a `_delete_` key inside it would reach the codec's
# constructor from the pipeline. decimal_mode='local' is the recipe of
# hih-local_wflw.py: 24 bins over 3 cells, integer sigma 0.75, mean-bin
# decoding.
hih_codec = dict(
    type='HIHHeatmap',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    decimal_mode='local')

model = dict(
    # `_delete_`: the base's HeatmapHead keys (conv_out_channels,
    # conv_kernel_sizes, ...) are no arguments of HIHHead, and its decoder
    # would be merged with ours; the head is written out whole instead.
    head=dict(
        _delete_=True,
        type='HIHHead',
        in_channels=270,  # HRNetV2's four branches, concatenated by the neck
        out_channels=98,
        # the local read-out with its defaults, the recipe of
        # hih-local_wflw.py (a per-cell BCE integer map, trained at the 3x3
        # cells around the true one, votes weighted by the map cubed): HRNet's
        # crop-wide landmarks are not where the paper's global branch learns
        # (docs/methods.md, "HIH: Heatmap in Heatmap")
        decimal_mode='local',
        # the read-out's 3x3 conv runs at 9 cells per landmark in training:
        # 128 channels keep the head's train step within 1.05x HeatmapHead's
        # (docs/results.md, "Cost of the decimal branch"); 384 cost 1.1x
        decimal_channels=128,
        decoder=hih_codec))
# test_cfg stays the base's: HIHHead's flip test uses flip_mode='heatmap'.

# The base config built its pipelines from its own `codec` when it was read.
# Only the training pipeline encodes targets; its GenerateTarget gets the new
# codec. Both pipelines load images with our LoadCheckedImage, which refuses
# a damaged image, naming it (docs/training.md). They are handed to the
# dataloaders again (lists replace the base's whole).
train_pipeline = checked_pipeline(_base_.train_pipeline, hih_codec)
val_pipeline = checked_pipeline(_base_.val_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# `codec` keeps naming the codec in use, for tools that read it; `_delete_`
# drops the base's keys. Defined last, after every use above.
codec = dict(_delete_=True, **hih_codec)
