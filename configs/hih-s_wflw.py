# HIH-S: 2 stacks; everything else as HIH-B in hih_wflw.py.
_base_ = ['./hih_wflw.py']

model = dict(backbone=dict(num_stacks=2))
