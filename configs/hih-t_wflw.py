# HIH-T: 1 stack; everything else as HIH-B in hih_wflw.py.
_base_ = ['./hih_wflw.py']

model = dict(backbone=dict(num_stacks=1))
