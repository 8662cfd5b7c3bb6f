# A tiny MMDetection detector for testing tools/demo.py's detector path with
# random weights: an RPN (one class, like a person detector) on a 2-stage
# ResNet-18 of 8 channels, one FPN level, a few boxes per image.
default_scope = 'mmdet'

model = dict(
    type='RPN',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=2,
        strides=(1, 2),
        dilations=(1, 1),
        out_indices=(1, ),
        stem_channels=8,
        base_channels=8,
        norm_eval=False,
        init_cfg=None),
    neck=dict(type='FPN', in_channels=[16], out_channels=8, num_outs=1),
    rpn_head=dict(
        type='RPNHead',
        in_channels=8,
        feat_channels=8,
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[8],
            ratios=[0.5, 1.0, 2.0],
            strides=[8]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=None,
    test_cfg=dict(
        rpn=dict(
            nms_pre=100,
            max_per_img=5,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0)))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# init_detector reads the class names and palette from the test dataset
test_dataloader = dict(
    dataset=dict(type='CocoDataset', pipeline=test_pipeline))
