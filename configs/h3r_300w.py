# H3R on 300W (68 landmarks): h3r_wflw.py (schedule, augmentation,
# 8 GPUs x 64) with 300W's data and metric from
# _base_/data/faces.py.
_base_ = ['./h3r_wflw.py']

model = dict(head=dict(out_channels=_base_.face_300w.num_keypoints))

# the base's WFLW data replaced by the fragment's
dataset_type = _base_.face_300w.train.type
data_root = _base_.face_300w.train.data_root
train_dataloader = dict(dataset=_base_.face_300w.train)
val_dataloader = test_dataloader = dict(dataset=_base_.face_300w.val)
val_evaluator = test_evaluator = _base_.face_300w.evaluator
