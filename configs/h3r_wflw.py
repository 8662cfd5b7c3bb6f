# H3R (heatmap regression via randomized rounding) on WFLW: MMPose's
# HRNetV2-W18 256x256 config with a 64x64 heatmap, changing only the codec,
# the loss, the head's flip test and the final layer's bias initialisation.
_base_ = [
    'mmpose::face_2d_keypoint/topdown_heatmap/wflw/'
    'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py'
]
custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)
# Stop at the first NaN/inf loss and never save NaN/inf weights (README,
# "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

codec = dict(
    type='H3RHeatmap',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    topk=9)

model = dict(
    head=dict(
        type='H3RHead',
        loss=dict(_delete_=True, type='H3RLoss', mode='bce'),
        # `_delete_` drops the base codec's `sigma`, which H3RHeatmap lacks.
        decoder=dict(codec, _delete_=True),
        # HeatmapHead's default init, except that the final bias starts at
        # the logit of a 1/(64*64) foreground prior, -ln(64*64 - 1), so BCE
        # does not start by pushing 4095 background pixels down from 0.5.
        init_cfg=[
            dict(
                type='Normal',
                layer=['Conv2d', 'ConvTranspose2d'],
                std=0.001,
                override=dict(
                    name='final_layer', type='Normal', std=0.001,
                    bias=-8.32)),
            dict(type='Constant', layer='BatchNorm2d', val=1)
        ]),
    # H3RHead mirrors decoded coordinates; flip_mode/shift_heatmap are unused.
    test_cfg=dict(_delete_=True, flip_test=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0,
        rotate_factor=60,
        scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
# Persistent workers keep their H3R rounding stream across epochs (see
# H3RHeatmap); the base config already sets it, restated because it matters.
train_dataloader = dict(
    persistent_workers=True, dataset=dict(pipeline=train_pipeline))

# inter-ocular NME (outer eye corners 60 and 72), with FR@10 and AUC@10
nme_norm = dict(norm_mode='keypoint_distance', keypoint_indices=[60, 72])
val_evaluator = [
    dict(type='NME', **nme_norm),
    dict(type='FailureRateAUC', **nme_norm)
]
test_evaluator = val_evaluator

# Replace the base config's top-level `codec` too. Rebound last, because a
# `_delete_` key left in the pipeline's encoder would reach H3RHeatmap.
codec = dict(codec, _delete_=True)
