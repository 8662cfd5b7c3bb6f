# HIH on COCO (17 keypoints): MMPose's HRNet-W32 COCO config with the HIH
# codec and head of _base_/models/hih_body_head.py (the local read-out on an
# MSE integer map). The HIH paper is face-only, so the schedule (210 epochs,
# Adam 5e-4), ImageNet-pretrained backbone and augmentation are MMPose's.
# Validation and test use the base config's
# person detections (data/coco/person_detection_results/
#  COCO_val2017_detections_AP_H_56_person.json)
# and report `coco/AP` with CocoMetric.
#
# Input 256x192 (heatmap 48x64) as MMPose's.
#
# 8 GPUs x 64 images per GPU (auto_scale_lr base 512), as the base config.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py', './_base_/hih_plugin.py',
    './_base_/models/hih_body_head.py'
]
# after _base_: a config opening with an import is read as lazy-import
from hih_plugin.datasets import checked_pipeline  # noqa: E402

# Stop at the first NaN/inf loss and never save NaN/inf weights
# (docs/training.md, "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

codec = dict(_base_.hih_codec, input_size=(192, 256), heatmap_size=(48, 64))

# The base's pipelines, loading with our LoadCheckedImage (it refuses a
# damaged image, naming it: docs/training.md) and encoding with our codec.
train_pipeline = checked_pipeline(_base_.train_pipeline, codec)
val_pipeline = checked_pipeline(_base_.val_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# `_delete_`: the base's HeatmapHead keys are no arguments of HIHHead
model = dict(
    head=dict(_base_.hih_head, _delete_=True, out_channels=17, decoder=codec))

# The top-level `codec` replaces, not merges into, the base's (no stale
# `sigma` or type left in cfg.codec). A new dict, so that the copies used
# above stay free of the `_delete_` key that merging consumes.
codec = dict(codec, _delete_=True)
