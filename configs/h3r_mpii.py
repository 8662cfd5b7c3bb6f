# H3R on MPII (16 joints): MMPose's HRNet-W32 256x256 MPII config with the
# H3R codec, head and loss (_base_/models/h3r_head.py) swapped in as
# h3r_wflw.py does for faces. The H3R paper gives no MPII training settings,
# so the schedule (210 epochs, Adam 5e-4) and augmentation are MMPose's.
# Reports PCKh@0.5 as `PCK`.
#
# 8 GPUs x 64 images per GPU (auto_scale_lr base 512). MMPose's stock
# HRNet-W32 MPII file trains with 16 per GPU despite its 8xb64 name and its
# base_batch_size of 512; every other 8xb64 MPII config uses 64, so we do.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py',
    './_base_/hih_plugin.py', './_base_/models/h3r_head.py'
]
# after _base_: a config opening with an import is read as lazy-import
from hih_plugin.datasets import checked_pipeline  # noqa: E402

# Stop at the first NaN/inf loss and never save NaN/inf weights
# (docs/training.md, "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

codec = dict(_base_.h3r_codec, input_size=(256, 256), heatmap_size=(64, 64))

# The base's pipelines, loading with our LoadCheckedImage (it refuses a
# damaged image, naming it: docs/training.md) and encoding with our codec.
train_pipeline = checked_pipeline(_base_.train_pipeline, codec)
val_pipeline = checked_pipeline(_base_.val_pipeline)
# Persistent workers keep their H3R rounding stream across epochs (see
# H3RHeatmap).
train_dataloader = dict(
    batch_size=64,
    persistent_workers=True,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

model = dict(
    head=dict(
        _base_.h3r_head,
        # `_delete_` drops the base decoder's `sigma`, which H3RHeatmap
        # does not take
        decoder=dict(codec, _delete_=True)),
    test_cfg=dict(_base_.h3r_test_cfg, _delete_=True))

# The top-level `codec` replaces, not merges into, the base's (no stale
# `sigma` or type left in cfg.codec). A new dict, so that the copies used
# above stay free of the `_delete_` key that merging consumes.
codec = dict(codec, _delete_=True)
