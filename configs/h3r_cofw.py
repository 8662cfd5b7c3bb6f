# H3R on COFW (29 landmarks): h3r_wflw.py (MMPose's HRNetV2-W18 256x256
# face config with the H3R codec, head and loss) with COFW's data and metric
# from _base_/data/face_cofw.py.
#
# 8 GPUs x 64 images per GPU, as MMPose's face configs (auto_scale_lr base
# 512); schedule (60 epochs, Adam 2e-3) and augmentation from h3r_wflw.py.
# MMPose's stock COFW/300W/AFLW configs differ from its WFLW one only in
# dataset, keypoint count, metric and Gaussian sigma (unused by H3R), and in
# COFW's MultiStepLR ending at epoch 50, which skips its decay at 55; here
# all follow the WFLW schedule.
_base_ = ['./h3r_wflw.py', './_base_/data/face_cofw.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

model = dict(head=dict(out_channels=_base_.face_cofw.num_keypoints))

# the base's WFLW data replaced by the fragment's
dataset_type = _base_.face_cofw.train.type
data_root = _base_.face_cofw.train.data_root
train_dataloader = dict(dataset=_base_.face_cofw.train)
val_dataloader = dict(dataset=_base_.face_cofw.val)
test_dataloader = val_dataloader
val_evaluator = _base_.face_cofw.evaluator
test_evaluator = val_evaluator
