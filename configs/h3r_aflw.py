# H3R on AFLW (19 landmarks): h3r_wflw.py (MMPose's HRNetV2-W18 256x256
# face config with the H3R codec, head and loss) with AFLW's data and metric.
# Val/test use AFLW-full; for AFLW-frontal set test_dataloader.dataset.
# ann_file to annotations/face_landmarks_aflw_test_frontal.json.
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

num_keypoints = 19
model = dict(head=dict(out_channels=num_keypoints))

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
