# HIH-B on COFW (29 landmarks): hih_wflw.py with COFW's data and metric.
# The paper reports COFW NME and FR@10, which this config evaluates.
#
# 1 GPU: batch size 16, as hih_wflw.py (whose schedule and augmentation this
# inherits).
_base_ = ['./hih_wflw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

num_keypoints = 29
model = dict(
    backbone=dict(num_keypoints=num_keypoints),
    head=dict(out_channels=num_keypoints))

# MMPose's COFW layout (tools/dataset_converters/parse_cofw_dataset.py)
dataset_type = 'COFWDataset'
data_root = 'data/cofw/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/cofw_train.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/cofw_test.json'))
test_dataloader = val_dataloader

# inter-ocular NME (outer eye corners 8 and 9), with FR@10 and AUC@10
nme_norm = dict(norm_mode='keypoint_distance', keypoint_indices=[8, 9])
val_evaluator = [
    dict(type='NME', **nme_norm),
    dict(type='FailureRateAUC', **nme_norm)
]
test_evaluator = val_evaluator
