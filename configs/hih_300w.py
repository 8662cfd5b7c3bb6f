# HIH-B on 300W (68 landmarks): hih_wflw.py with 300W's data and metric.
# The paper reports NME on the full, common and challenge sets.
#
# Val/test use the full set (common + challenge). For a subset, set
# test_dataloader.dataset.ann_file to one of (under annotations/)
#   face_landmarks_300w_valid_common.json
#   face_landmarks_300w_valid_challenge.json
#   face_landmarks_300w_test.json  (the private 300W test set)
#
# 1 GPU: batch size 16, as hih_wflw.py (whose schedule and augmentation this
# inherits).
_base_ = ['./hih_wflw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

num_keypoints = 68
model = dict(
    backbone=dict(num_keypoints=num_keypoints),
    head=dict(out_channels=num_keypoints))

dataset_type = 'Face300WDataset'
data_root = 'data/300w/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_300w_train.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_300w_valid.json'))
test_dataloader = val_dataloader

# inter-ocular NME (outer eye corners 36 and 45), with FR@10 and AUC@10
nme_norm = dict(norm_mode='keypoint_distance', keypoint_indices=[36, 45])
val_evaluator = [
    dict(type='NME', **nme_norm),
    dict(type='FailureRateAUC', **nme_norm)
]
test_evaluator = val_evaluator
