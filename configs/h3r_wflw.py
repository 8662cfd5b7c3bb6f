# H3R (heatmap regression via randomized rounding) on WFLW: MMPose's
# HRNetV2-W18 256x256 config with a 64x64 heatmap, changing only the codec,
# the loss, the head's flip test and the final layer's bias initialisation
# (_base_/models/h3r_head.py).
_base_ = [
    'mmpose::face_2d_keypoint/topdown_heatmap/wflw/'
    'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py',
    './_base_/hih_plugin.py', './_base_/models/h3r_head.py',
    './_base_/data/faces.py'
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
# H3RHeatmap); the base config already sets it, restated because it matters.
train_dataloader = dict(
    persistent_workers=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = _base_.face_wflw.evaluator
test_evaluator = val_evaluator

model = dict(
    head=dict(
        _base_.h3r_head,
        # `_delete_` drops the base codec's `sigma`, which H3RHeatmap lacks.
        decoder=dict(codec, _delete_=True)),
    test_cfg=dict(_base_.h3r_test_cfg, _delete_=True))

# Replace the base config's top-level `codec` too. Rebound last, because a
# `_delete_` key left in the pipeline's encoder would reach H3RHeatmap.
codec = dict(codec, _delete_=True)
