# H3R on COFW (29 landmarks): h3r_wflw.py (schedule, augmentation,
# 8 GPUs x 64) with COFW's data and metric from
# _base_/data/faces.py.
# MMPose's stock COFW/300W/AFLW configs differ from its WFLW one only in
# dataset, keypoint count, metric, Gaussian sigma (unused by H3R) and
# COFW's MultiStepLR ending at epoch 50; here all follow the WFLW schedule.
_base_ = ['./h3r_wflw.py']

model = dict(head=dict(out_channels=_base_.face_cofw.num_keypoints))

# the base's WFLW data replaced by the fragment's
dataset_type = _base_.face_cofw.train.type
data_root = _base_.face_cofw.train.data_root
train_dataloader = dict(dataset=_base_.face_cofw.train)
val_dataloader = test_dataloader = dict(dataset=_base_.face_cofw.val)
val_evaluator = test_evaluator = _base_.face_cofw.evaluator
