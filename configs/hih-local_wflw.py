# HIH-B with the local CSC read-out: the network, data, schedule and losses
# of hih_wflw.py, with each landmark's decimal logits read at its own integer
# cell instead of the paper's global decimal branch. The decimal bins span
# 3 cells (24 bins, 1/8 cell each as the paper's 8 over one cell), and the
# read-out is trained at the 3x3 cells around the true one, so an argmax that
# lands a cell off still decodes near the landmark. docs/methods.md, "HIH:
# Heatmap in Heatmap", says when each mode wins.
_base_ = ['./hih_wflw.py']

codec = dict(_base_.codec, decimal_span=3, decimal_size=24)

model = dict(
    head=dict(
        decimal_mode='local',
        readout_cells='neighbours',
        decoder=codec,
        # DistributionLoss averages over the d x d bins: 0.05 per 8 x 8 bins
        # is 0.45 per 24 x 24, the paper's weight per landmark
        decimal_loss=dict(loss_weight=0.45)))

# the base pipeline encodes with the base codec
train_pipeline = [
    dict(type='GenerateTarget', encoder=codec)
    if step['type'] == 'GenerateTarget' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
