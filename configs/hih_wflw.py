# HIH-B (4-stack hourglass + CSC head) on WFLW, 256x256 input, 64x64 integer
# heatmaps, 8x8 decimal heatmaps. Lan et al., "HIH: Towards More Accurate
# Face Alignment via Heatmap in Heatmap", arXiv 2104.03100.
#
# 1 GPU: batch size 16 (the official config's), Adam lr 1e-3 with a linear
# warm-up. The paper does not publish its optimizer; this lr is our choice
# and has not been tuned. With --auto-scale-lr the lr scales linearly from
# base_batch_size 16.
_base_ = [
    'mmpose::_base_/default_runtime.py', './_base_/hih_plugin.py',
    './_base_/data/faces.py'
]

# runtime: 60 epochs, lr x0.1 at 30 and 50 (the official schedule)
train_cfg = dict(max_epochs=60, val_interval=1)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))

param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=60,
        milestones=[30, 50],
        gamma=0.1,
        by_epoch=True)
]

auto_scale_lr = dict(base_batch_size=16)

# StopOnNonFiniteHook ends the run at the first NaN/inf loss and never saves
# NaN/inf weights (see docs/training.md, "Guards against silent failures").
default_hooks = dict(
    checkpoint=dict(save_best='NME', rule='less', interval=1),
    nonfinite=dict(type='StopOnNonFiniteHook'))

# the paper's codec, HIHHeatmap's defaults: 8 x 8 decimal bins over one
# cell, integer sigma 1.5, decimal sigma 1 bin, argmax decoding
codec = dict(type='HIHHeatmap', input_size=(256, 256), heatmap_size=(64, 64))

# model settings
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    # no ImageNet pretraining; weights are drawn from N(0, 0.001)
    backbone=dict(
        type='HIHHourglass',
        num_stacks=4,  # HIH-B
        num_keypoints=98,
        feat_channels=256,
        depth=4),
    head=dict(
        type='HIHHead',
        in_channels=256,
        out_channels=98,
        heatmaps_from_backbone=True,
        # the paper's global decimal branch, with HIHHead's defaults for it:
        # 384 channels, an MSE integer loss averaged over the stacks as the
        # official code does, decimal weight 0.05; configs/hih-local_wflw.py
        # reads the decimal logits at each landmark's own cell instead
        decimal_mode='global',
        decoder=codec),
    # the heatmap flip test; shift_heatmap aligns the averaged heatmaps
    # returned with output_heatmaps (HIHHead averages decoded points)
    test_cfg=dict(flip_test=True, shift_heatmap=True))

# base dataset settings
dataset_type = _base_.face_wflw.train.type
data_mode = 'topdown'
data_root = _base_.face_wflw.train.data_root

# The paper augments with +-30 px translation, horizontal flip with landmark
# swap, +-30 deg rotation, Gaussian blur and a random occluding rectangle.
# Blur is our RandomGaussianBlur (albumentations' GaussianBlur, but drawing
# from numpy's RNG, which MMEngine seeds; the probability is ours, the paper
# does not give it); the occluding rectangle is mmdet's CutOut.
# LoadCheckedImage is MMPose's LoadImage refusing a damaged or oversized
# image, naming it (docs/training.md).
train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.12,  # 0.12 * 256 px ~ 30 px
        shift_prob=1.0,
        rotate_factor=30,
        rotate_prob=1.0,
        scale_factor=(0.9, 1.1)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='RandomGaussianBlur', prob=0.3, kernel_size=(3, 7)),
    dict(
        type='RandomApply',
        prob=0.5,
        transforms=[
            dict(
                type='mmdet.CutOut',
                n_holes=1,
                cutout_ratio=[(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)])
        ]),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

# data loaders
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _base_.face_wflw.train,
        data_mode=data_mode,
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        _base_.face_wflw.val,
        data_mode=data_mode,
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = _base_.face_wflw.evaluator
test_evaluator = val_evaluator
