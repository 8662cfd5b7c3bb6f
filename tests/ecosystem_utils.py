"""Shared by the tests of the mix configs, distributed runs, publishing
and the demo: fixture-pointing config overrides and tiny configs."""
import os.path as osp
import socket

from conftest import ROOT

MIX = osp.join(ROOT, 'configs', 'mix')
HIH_MIX = osp.join(MIX, 'hrnetv2-w18_hih_wflw.py')
H3R_MIX = osp.join(MIX, 'res50_h3r_coco.py')

# stock configs start from ImageNet weights; tests run offline
NO_DOWNLOAD = 'model.backbone.init_cfg=None'

ANN_FILES = {'wflw': 'test_wflw.json', 'coco': 'test_coco.json'}


def data_options(root, name, splits=('train', 'val', 'test'), indices=None,
                 batch_size=1):
    """``--cfg-options`` that point a config's loaders at a fixture folder,
    loading on the main process."""
    opts = []
    for split in splits:
        prefix = f'{split}_dataloader'
        opts += [
            f'{prefix}.batch_size={batch_size}',
            f'{prefix}.num_workers=0',
            f'{prefix}.persistent_workers=False',
            f'{prefix}.dataset.data_root={root}',
            f'{prefix}.dataset.ann_file={ANN_FILES[name]}',
            f'{prefix}.dataset.data_prefix.img=',
        ]
        if indices is not None:
            opts.append(f'{prefix}.dataset.indices={indices}')
        if name == 'coco' and split != 'train':
            # ground-truth boxes: the fixture's detections file is not needed
            opts.append(f'{prefix}.dataset.bbox_file=None')
    if name == 'coco':
        ann = osp.join(root, ANN_FILES[name])
        opts += [f'val_evaluator.ann_file={ann}',
                 f'test_evaluator.ann_file={ann}']
    return opts


def free_port():
    """A TCP port that was free a moment ago, for torchrun's rendezvous."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# Tiny variants of the two mix configs: the codec, head and loss of the
# recipe, on a one-stage ResNet-18 of 8 channels (stride 4, so the stock
# heatmap sizes still fit) instead of HRNetV2 / ResNet-50.
TINY_BACKBONE = ("dict(_delete_=True, type='ResNet', depth=18, num_stages=1, "
                 "out_indices=(0, ), strides=(1, ), dilations=(1, ), "
                 "stem_channels=8, base_channels=8)")


def tiny_hih_wflw(path, root, extra=''):
    """Write a tiny HIH WFLW config, pointing at fixture ``root``."""
    text = f"""
_base_ = [{HIH_MIX!r}]
model = dict(
    backbone={TINY_BACKBONE},
    neck=None,
    head=dict(in_channels=8, decimal_channels=16))
data_root = {root + '/'!r}
_loader = dict(batch_size=1, num_workers=0, persistent_workers=False)
_data = dict(data_root=data_root, ann_file='test_wflw.json',
             data_prefix=dict(img=''))
train_dataloader = dict(**_loader, dataset=_data)
val_dataloader = dict(**_loader, dataset=_data)
test_dataloader = val_dataloader
{extra}
"""
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def tiny_h3r_coco(path, root, extra=''):
    """Write a tiny H3R COCO config, pointing at fixture ``root``."""
    text = f"""
_base_ = [{H3R_MIX!r}]
model = dict(
    backbone={TINY_BACKBONE},
    head=dict(in_channels=8, deconv_out_channels=None,
              deconv_kernel_sizes=None))
data_root = {root + '/'!r}
_loader = dict(batch_size=1, num_workers=0, persistent_workers=False)
train_dataloader = dict(**_loader, dataset=dict(
    data_root=data_root, ann_file='test_coco.json',
    data_prefix=dict(img='')))
val_dataloader = dict(**_loader, dataset=dict(
    data_root=data_root, ann_file='test_coco.json',
    data_prefix=dict(img=''), bbox_file=None))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator
{extra}
"""
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def save_random_weights(config, out):
    """Build the model of ``config`` with random weights; save its
    state dict as a checkpoint, as a stand-in for a trained model."""
    import torch
    from mmpose.apis import init_model
    model = init_model(config, None, device='cpu')
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, out)
    return str(out)
