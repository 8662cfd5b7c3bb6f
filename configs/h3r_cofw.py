# H3R on COFW (29 landmarks): h3r_wflw.py (MMPose's HRNetV2-W18 256x256
# face config with the H3R codec, head and loss) with COFW's data and metric.
#
# 8 GPUs x 64 images per GPU, as MMPose's face configs (auto_scale_lr base
# 512); schedule (60 epochs, Adam 2e-3) and augmentation from h3r_wflw.py.
# MMPose's stock COFW/300W/AFLW configs differ from its WFLW one only in
# dataset, keypoint count, metric and Gaussian sigma (unused by H3R), and in
# COFW's MultiStepLR ending at epoch 50, which skips its decay at 55; here
# all follow the WFLW schedule.
_base_ = ['./h3r_wflw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

num_keypoints = 29
model = dict(head=dict(out_channels=num_keypoints))

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
