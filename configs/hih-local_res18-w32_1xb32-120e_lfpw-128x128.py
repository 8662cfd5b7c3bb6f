# HIH with the local read-out, trained on real photographs: LFPW's training
# set with 300-W's 68 landmarks, on one CPU machine (2 cores) in under 45
# minutes. The model tools/demo.py uses is this one
# trained twice as long: hih-local_res18-w32_1xb32-240e_lfpw-128x128.py
# (model_zoo/hih-local_lfpw/README.md: its results, its training log, and
# the terms of the 300-W annotations its weights carry).
#
# The recipe is that of the real-faces benchmark (the `photos` regime of
# tools/analysis/subpixel_benchmark.py, docs/results.md): its ResNet-18
# layout of three stages to stride 16 at 128 px input, twice as wide (32
# base channels), deconvolutions up to 32x32 heatmaps (stride 4), the local
# HIH head and codec of configs/hih-local_wflw.py, and its augmentation
# (flip with 300-W's pairs, rotation, scale, shift). No pretrained weights.
#
# Data (tools/dataset_converters/, docs/faces.md):
#   python tools/dataset_converters/face300w_to_coco.py data/lfpw_68/trainset \
#       data/lfpw_68_ann/lfpw_68_train.json \
#       --list tools/dataset_converters/splits/lfpw_68_train.txt
#   (the same with _val), then each JSON cut down to its faces:
#   python tools/dataset_converters/crop_faces.py \
#       data/lfpw_68_ann/lfpw_68_train.json data/lfpw_68/trainset \
#       data/lfpw_68_crops
_base_ = ['mmpose::_base_/default_runtime.py', './_base_/hih_plugin.py']

# 120 epochs of 645 faces in batches of 32: 2,520 steps
train_cfg = dict(max_epochs=120, val_interval=40)
# AdamW: decoupled weight decay, none on norms and biases (docs/results.md,
# "Real photographs": the 120-epoch ablation of the optimiser and schedule)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
# linear warm-up over 100 steps, then cosine decay to 0 (the benchmark's)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01,
         by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=120, T_max=120, eta_min=0.,
         by_epoch=True, convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(save_best='NME', rule='less', interval=40,
                    max_keep_ckpts=1),
    nonfinite=dict(type='StopOnNonFiniteHook'))

codec = dict(
    type='HIHHeatmap',
    input_size=(128, 128),
    heatmap_size=(32, 32),
    decimal_mode='local')

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=32,
        base_channels=32,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )),
    head=dict(
        type='HIHHead',
        in_channels=128,
        out_channels=68,
        deconv_out_channels=(64, 64),
        decimal_mode='local',
        decimal_channels=64,
        decoder=codec),
    test_cfg=dict(flip_test=True))

dataset_type = 'Face300WDataset'
data_mode = 'topdown'
data_root = 'data/lfpw_68_crops/'

train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.1,
        shift_prob=0.5,
        scale_factor=(0.75, 1.25),
        scale_prob=1.0,
        rotate_factor=30,
        rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

# Loading in the training process: the cut-outs decode in about 2 ms, and a
# worker process contended with the model on 2 cores (a step took 1.6 s with
# one worker, 0.39 s without, both with 2 torch threads on an idle machine).
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='lfpw_68_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='lfpw_68_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# inter-ocular NME (outer eye corners 36 and 45), with FR@10 and AUC@10
val_evaluator = [
    dict(type='NME', norm_mode='keypoint_distance', keypoint_indices=[36, 45]),
    dict(
        type='FailureRateAUC',
        norm_mode='keypoint_distance',
        keypoint_indices=[36, 45])
]
test_evaluator = val_evaluator
