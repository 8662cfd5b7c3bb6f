# MMPose's stock SimpleBaseline ResNet-50 COCO config (256x192 input, 64x48
# heatmaps) with H3R's randomized-rounding codec, loss and flip test:
# one-hot targets at a randomly rounded cell, per-pixel BCE, top-k
# soft-argmax decoding. Backbone, deconvolution layers, data pipeline,
# schedule and COCO evaluation stay MMPose's.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py',
    '../_base_/hih_plugin.py', '../_base_/models/h3r_head.py'
]
# after _base_: a config opening with an import is read as lazy-import
from hih_plugin.datasets import checked_pipeline  # noqa: E402

# Stop at the first NaN/inf loss and never save NaN/inf weights
# (docs/training.md, "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

# A new name on purpose: a dict named `codec` would be merged into the base's
# MSRAHeatmap dict (keeping its `sigma`), and a `_delete_` key inside it
# would reach the codec's constructor from the pipeline and the head.
h3r_codec = dict(
    _base_.h3r_codec, input_size=(192, 256), heatmap_size=(48, 64))

model = dict(
    head=dict(
        # HeatmapHead's layers and loss weighting, H3R's loss and flip test,
        # and the final bias at the logit of a 1/(48*64) foreground prior
        # (../_base_/models/h3r_head.py)
        _base_.h3r_head,
        # `_delete_`: merged into the base's decoder, the MSRAHeatmap
        # `sigma` would survive and reach H3RHeatmap.
        decoder=dict(_delete_=True, **h3r_codec)),
    # flip_mode and shift_heatmap of the base's heatmap flip test would be
    # unused
    test_cfg=dict(_base_.h3r_test_cfg, _delete_=True))

# The base config built its pipelines from its own `codec` when it was read.
# Only the training pipeline encodes targets; its GenerateTarget gets the new
# codec. Both pipelines load images with our LoadCheckedImage, which refuses
# a damaged image, naming it (docs/training.md). They are handed to the
# dataloaders again (lists replace the base's whole).
train_pipeline = checked_pipeline(_base_.train_pipeline, h3r_codec)
val_pipeline = checked_pipeline(_base_.val_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# `codec` keeps naming the codec in use, for tools that read it; `_delete_`
# drops the base's `sigma`. Defined last, after every use above.
codec = dict(_delete_=True, **h3r_codec)
