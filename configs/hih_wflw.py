# HIH-B (4-stack hourglass + CSC head) on WFLW, 256x256 input, 64x64 integer
# heatmaps, 8x8 decimal heatmaps. Lan et al., "HIH: Towards More Accurate
# Face Alignment via Heatmap in Heatmap", arXiv 2104.03100.
#
# 1 GPU: batch size 16 (the official config's), Adam lr 1e-3 with a linear
# warm-up. The paper does not publish its optimizer; this lr is our choice
# and has not been tuned. With --auto-scale-lr the lr scales linearly from
# base_batch_size 16.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)

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

# codec settings
codec = dict(
    type='HIHHeatmap',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    decimal_size=8,
    sigma=1.5,
    decimal_sigma=1.0,
    decode_mode='argmax')

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
        # the paper's global decimal branch; configs/hih-local_wflw.py reads
        # the decimal logits at each landmark's own cell instead
        decimal_mode='global',
        decimal_channels=384,
        loss=dict(
            type='KeypointMSELoss', use_target_weight=True, loss_weight=1.0),
        stack_loss='mean',  # as the official code: averaged over stacks
        decimal_loss=dict(type='DistributionLoss', loss_weight=0.05),
        decoder=codec),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=True,
    ))

# base dataset settings
dataset_type = 'WFLWDataset'
data_mode = 'topdown'
data_root = 'data/wflw/'

# The paper augments with +-30 px translation, horizontal flip with landmark
# swap, +-30 deg rotation, Gaussian blur and a random occluding rectangle.
# Blur is our RandomGaussianBlur (albumentations' GaussianBlur, but drawing
# from numpy's RNG, which MMEngine seeds; the probability is ours, the paper
# does not give it); the occluding rectangle is mmdet's CutOut.
train_pipeline = [
    dict(type='LoadImage'),
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
    dict(type='LoadImage'),
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
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/face_landmarks_wflw_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/face_landmarks_wflw_test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# inter-ocular NME (outer eye corners 60 and 72), with FR@10 and AUC@10
val_evaluator = [
    dict(type='NME', norm_mode='keypoint_distance', keypoint_indices=[60, 72]),
    dict(
        type='FailureRateAUC',
        norm_mode='keypoint_distance',
        keypoint_indices=[60, 72])
]
test_evaluator = val_evaluator
