# The quick start's smoke run (tools/quickstart.sh): configs/hih-local_wflw.py
# at a size that trains in a couple of CPU minutes. Same head and losses;
# smaller everywhere else:
# - the one-cell read-out trained at the true cell on an MSE integer map
#   (decimal_span=1, 8 bins, readout_cells='truth', no votes, decimal weight
#   0.05): its decimal loss shows learning within a smoke run, where the
#   3-cell read-out trained at the 9 neighbouring cells learns more slowly;
# - 128x128 input, 32x32 integer heatmaps (the sigmas stay), so each step
#   costs about a quarter of the 256 input's;
# - one hourglass stack of width 64 and a decimal branch of 64 channels
#   (HIH-B: 4 stacks, 256 and 384);
# - 20 epochs of 200 faces in batches of 8 (500 steps) with a 20-step
#   warm-up: the decimal branch needs steps more than large batches;
# - flip and box jitter only: blur and CutOut only slow a run this short.
# It shows that the pipeline runs end to end and the sub-pixel branch
# learns; its NME says nothing about accuracy on real faces.
_base_ = ['./hih-local_wflw.py']

codec = dict(
    _base_.codec,
    input_size=(128, 128),
    heatmap_size=(32, 32),
    decimal_size=8,
    decimal_span=1,
    sigma=1.5,
    decode_mode='argmax')

train_cfg = dict(max_epochs=20, val_interval=20)
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=20, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=20,
        milestones=[15],
        gamma=0.1,
        by_epoch=True)
]
optim_wrapper = dict(optimizer=dict(lr=2e-3))
# the last checkpoint only; MMEngine's progress log every 5 iterations
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=20))

model = dict(
    backbone=dict(num_stacks=1, feat_channels=64),
    head=dict(
        in_channels=64,
        decimal_channels=64,
        # one cell: the read-out is trained at the true cell, without votes
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decimal_loss=dict(type='DistributionLoss', loss_weight=0.05),
        decoder=codec))

train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.12,
        shift_prob=1.0,
        rotate_factor=30,
        rotate_prob=1.0,
        scale_factor=(0.9, 1.1)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

data_root = 'data/demo_wflw/'
# One loading process beside the model's one torch thread (tools/
# quickstart.sh): two cores busy, no OpenMP thread spin-waiting.
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = val_dataloader
