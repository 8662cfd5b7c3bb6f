# The model of hih-local_res18-w32_1xb32-120e_lfpw-128x128.py trained twice
# as long: 240 epochs of 645 faces in batches of 32 (5,040 steps), with the
# cosine decay stretched to match. On two torch threads of an otherwise idle
# 2-core machine it trains in under 45 minutes (model_zoo/hih-local_lfpw:
# its log, time and validation NME). It is the model tools/demo.py uses when
# given only a photograph.
_base_ = ['./hih-local_res18-w32_1xb32-120e_lfpw-128x128.py']

train_cfg = dict(max_epochs=240, val_interval=40)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01,
         by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=240, T_max=240, eta_min=0.,
         by_epoch=True, convert_to_iter_based=True)
]
