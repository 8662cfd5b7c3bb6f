# HIH-B with the local CSC read-out: the network, data, schedule and losses
# of hih_wflw.py, with each landmark's decimal logits read at its own integer
# cell (the ground-truth cell in training, the predicted one at test) instead
# of the paper's global decimal branch. README, "HIH: Heatmap in Heatmap",
# says when each mode wins.
_base_ = ['./hih_wflw.py']

model = dict(head=dict(decimal_mode='local'))
