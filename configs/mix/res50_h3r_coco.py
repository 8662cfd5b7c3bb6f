# MMPose's stock SimpleBaseline ResNet-50 COCO config (256x192 input, 64x48
# heatmaps) with H3R's randomized-rounding codec, loss and flip test:
# one-hot targets at a randomly rounded cell, per-pixel BCE, top-k
# soft-argmax decoding. Backbone, deconvolution layers, data pipeline,
# schedule and COCO evaluation stay MMPose's.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py'
]
custom_imports = dict(
    imports=['hih_plugin', 'hih_plugin.checkpoint.enable'],
    allow_failed_imports=False)
# Stop at the first NaN/inf loss and never save NaN/inf weights (README,
# "Guards against silent failures").
default_hooks = dict(nonfinite=dict(type='StopOnNonFiniteHook'))

# A new name on purpose: a dict named `codec` would be merged into the base's
# MSRAHeatmap dict (keeping its `sigma`), and a `_delete_` key inside it
# would reach the codec's constructor from the pipeline and the head.
h3r_codec = dict(
    type='H3RHeatmap', input_size=(192, 256), heatmap_size=(48, 64), topk=9)

model = dict(
    head=dict(
        # HeatmapHead's layers; only the flip test differs (see H3RHead)
        type='H3RHead',
        loss=dict(
            _delete_=True, type='H3RLoss', mode='bce', use_target_weight=True),
        # `_delete_`: merged into the base's decoder, the MSRAHeatmap
        # `sigma` would survive and reach H3RHeatmap.
        decoder=dict(_delete_=True, **h3r_codec),
        # HeatmapHead's default init, except that the final bias starts at
        # the logit of a 1/(48*64) foreground prior, -ln(48*64 - 1), as in
        # configs/h3r_wflw.py: BCE then does not start by pushing 3071
        # background pixels down from 0.5.
        init_cfg=[
            dict(
                type='Normal',
                layer=['Conv2d', 'ConvTranspose2d'],
                std=0.001,
                override=dict(
                    name='final_layer', type='Normal', std=0.001,
                    bias=-8.03)),
            dict(type='Constant', layer='BatchNorm2d', val=1)
        ]),
    # H3RHead mirrors decoded coordinates; flip_mode and shift_heatmap of the
    # base's heatmap flip test would be unused.
    test_cfg=dict(_delete_=True, flip_test=True))

# The base config built its pipelines from its own `codec` when it was read.
# Only the training pipeline encodes targets; it is restated with the new
# codec and handed to the dataloader again (lists replace the base's whole).
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=h3r_codec['input_size']),
    dict(type='GenerateTarget', encoder=h3r_codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# `codec` keeps naming the codec in use, for tools that read it; `_delete_`
# drops the base's `sigma`. Defined last, after every use above.
codec = dict(_delete_=True, **h3r_codec)
