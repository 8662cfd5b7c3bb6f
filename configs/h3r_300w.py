# H3R on 300W (68 landmarks): h3r_wflw.py (MMPose's HRNetV2-W18 256x256
# face config with the H3R codec, head and loss) with 300W's data and metric.
# The paper reports outer-eye NME on the full set, both with boxes from the
# GT landmarks and with the dataset's boxes; this config uses the boxes in
# MMPose's annotation files.
#
# Val/test use the full set (common + challenge). For a subset, set
# test_dataloader.dataset.ann_file to one of (under annotations/)
#   face_landmarks_300w_valid_common.json
#   face_landmarks_300w_valid_challenge.json
#   face_landmarks_300w_test.json  (the private 300W test set)
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

num_keypoints = 68
model = dict(head=dict(out_channels=num_keypoints))

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
