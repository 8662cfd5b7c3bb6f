# HIH-B on AFLW (19 landmarks): hih_wflw.py with AFLW's data and metric.
# The HIH paper does not report AFLW; settings are those of hih_wflw.py.
# Val/test use AFLW-full; for AFLW-frontal set test_dataloader.dataset.
# ann_file to annotations/face_landmarks_aflw_test_frontal.json.
#
# 1 GPU: batch size 16, as hih_wflw.py (whose schedule and augmentation this
# inherits).
_base_ = ['./hih_wflw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

num_keypoints = 19
model = dict(
    backbone=dict(num_keypoints=num_keypoints),
    head=dict(out_channels=num_keypoints))

dataset_type = 'AFLWDataset'
data_root = 'data/aflw/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_aflw_train.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_aflw_test.json'))
test_dataloader = val_dataloader

# AFLW errors are normalised by the face box size, as in MMPose's AFLW
# config, because many AFLW faces are in profile, where the inter-ocular
# distance collapses; FR@10 and AUC@10 use the same normalisation
nme_norm = dict(norm_mode='use_norm_item', norm_item='bbox_size')
val_evaluator = [
    dict(type='NME', **nme_norm),
    dict(type='FailureRateAUC', **nme_norm)
]
test_evaluator = val_evaluator
