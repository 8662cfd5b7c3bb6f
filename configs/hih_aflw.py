# HIH-B on AFLW (19 landmarks): hih_wflw.py with AFLW's data and metric
# from _base_/data/face_aflw.py.
#
# 1 GPU: batch size 16, as hih_wflw.py (whose schedule and augmentation this
# inherits).
_base_ = ['./hih_wflw.py', './_base_/data/face_aflw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(num_keypoints=_base_.face_aflw.num_keypoints),
    head=dict(out_channels=_base_.face_aflw.num_keypoints))

# the base's WFLW data replaced by the fragment's
dataset_type = _base_.face_aflw.train.type
data_root = _base_.face_aflw.train.data_root
train_dataloader = dict(dataset=_base_.face_aflw.train)
val_dataloader = dict(dataset=_base_.face_aflw.val)
test_dataloader = val_dataloader
val_evaluator = _base_.face_aflw.evaluator
test_evaluator = val_evaluator
