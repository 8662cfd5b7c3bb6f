"""``--cfg-options`` for the tools that the end-to-end tests run: tiny
models, and data pointed at a dataset sample folder (conftest.fixture_dir),
one process, one torch thread."""
import glob
import json
import os.path as osp

import numpy as np
from conftest import ROOT, run_tool

FACE_KEYS = ('NME', 'FR@10', 'AUC@10')
# fixture folder -> annotation file, optional person boxes, reported metrics
DATASETS = {
    'wflw': dict(ann_file='test_wflw.json', keys=FACE_KEYS),
    'cofw': dict(ann_file='test_cofw.json', keys=FACE_KEYS),
    '300w': dict(ann_file='test_300w.json', keys=FACE_KEYS),
    'aflw': dict(ann_file='test_aflw.json', keys=FACE_KEYS),
    'mpii': dict(ann_file='test_mpii.json', keys=('PCK', )),  # PCKh@0.5
    'coco': dict(
        ann_file='test_coco.json',
        bbox_file='test_coco_det_AP_H_56.json',
        keys=('coco/AP', )),
}
SPLITS = ('train', 'val', 'test')
# One thread: the tiny models gain nothing from more, and on a loaded
# machine torch's default thread pool makes them tens of times slower.
ONE_THREAD = {'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}


def tiny_model_options(cfg):
    """``--cfg-options`` entries that shrink the config's model to a few
    channels, whatever its backbone, without pretrained weights."""
    backbone, head = cfg.model.backbone, cfg.model.head
    if backbone.type == 'HIHHourglass':
        opts = {
            'model.backbone.num_stacks': 1,
            'model.backbone.feat_channels': 16,
            'model.backbone.depth': 2,
            'model.head.in_channels': 16,
        }
    elif backbone.type == 'HRNet':
        # the layout of the config's HRNet, with one block per branch
        channels = (4, 8, 16, 32)
        opts = {
            'model.backbone.init_cfg': None,
            'model.backbone.extra.stage1.num_blocks': (1, ),
            'model.backbone.extra.stage1.num_channels': (8, ),
        }
        for stage, branches in (('stage2', 2), ('stage3', 3), ('stage4', 4)):
            key = f'model.backbone.extra.{stage}'
            opts[f'{key}.num_modules'] = 1
            opts[f'{key}.num_blocks'] = (1, ) * branches
            opts[f'{key}.num_channels'] = channels[:branches]
        # HRNetV2 (faces) concatenates all branches; HRNet (body) gives
        # the first branch only
        concat = cfg.model.get('neck', {}).get('concat', False)
        in_channels = sum(channels) if concat else channels[0]
        opts['model.head.in_channels'] = in_channels
        if head.get('conv_out_channels'):
            opts['model.head.conv_out_channels'] = (in_channels, )
    else:
        raise NotImplementedError(f'no tiny variant of {backbone.type}')
    if head.type == 'HIHHead':
        opts['model.head.decimal_channels'] = 16
    return opts


def fixture_options(name, root, tmp_path):
    """``--cfg-options`` entries that point every split at the fixture
    folder ``root``: one training iteration (2 samples, batch 2), one epoch,
    validation over the whole fixture."""
    spec = DATASETS[name]
    opts = {
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'train_dataloader.dataset.indices': 2,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
    }
    for split in SPLITS:
        opts.update({
            f'{split}_dataloader.dataset.data_root': root,
            f'{split}_dataloader.dataset.ann_file': spec['ann_file'],
            f'{split}_dataloader.dataset.data_prefix.img': '',
            f'{split}_dataloader.batch_size': 2,
            f'{split}_dataloader.num_workers': 0,
            f'{split}_dataloader.persistent_workers': False,
        })
    for split in ('val', 'test'):
        if 'bbox_file' in spec:
            opts[f'{split}_dataloader.dataset.bbox_file'] = osp.join(
                root, spec['bbox_file'])
        if name == 'mpii':
            opts[f'{split}_dataloader.dataset.headbox_file'] = (
                mpii_headbox_file(root, tmp_path))
        if name == 'coco':
            opts[f'{split}_evaluator.ann_file'] = osp.join(
                root, spec['ann_file'])
    return opts


def mpii_headbox_file(root, tmp_path):
    """A stand-in for ``mpii_gt_val.mat``, which the fixture lacks and
    ``MpiiPCKAccuracy`` needs: a 50 x 50 px head box per annotation."""
    from scipy.io import savemat
    path = str(tmp_path / 'headboxes.mat')
    with open(osp.join(root, DATASETS['mpii']['ann_file'])) as f:
        count = len(json.load(f))
    boxes = np.zeros((2, 2, count))  # [corner, xy, annotation]
    boxes[1] = 50.0
    savemat(path, {'headboxes_src': boxes})
    return path


def as_cli(opts):
    return [f'{key}={value}' for key, value in opts.items()]


def read_scalars(work_dir):
    paths = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


# MMPose's stock HRNetV2 WFLW config, shrunk for the CPU.
STOCK_CFG = osp.join(ROOT, 'tests', 'configs', 'tiny_hrnetv2_wflw.py')


def wflw_options(root, max_epochs):
    """Point the stock HRNetV2 WFLW config at the fixture, tiny and offline."""
    opts = [
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1',
        'param_scheduler=[]',
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.batch_size=2',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.dataset.ann_file=test_wflw.json',
            f'{split}_dataloader.dataset.data_prefix.img=',
        ]
    return opts


# A 1-stack, 16-channel HIH trained this many epochs by tiny_overrides
HIH_EPOCHS = 10


def tiny_overrides(root):
    """A 1-stack, 16-channel HIH on the 2-image fixture, batch 2, with the
    random augmentations switched off so that 20 iterations show a trend."""
    pipeline = 'train_dataloader.dataset.pipeline'
    opts = [
        f'{pipeline}.2.prob=0.',  # RandomFlip
        f'{pipeline}.3.shift_prob=0.', f'{pipeline}.3.rotate_prob=0.',
        f'{pipeline}.3.scale_prob=0.',  # RandomBBoxTransform
        f'{pipeline}.5.prob=0.',  # RandomGaussianBlur
        f'{pipeline}.6.prob=0.',  # RandomApply(CutOut)

        f'train_cfg.max_epochs={HIH_EPOCHS}',
        f'train_cfg.val_interval={HIH_EPOCHS}',
        'model.backbone.num_stacks=1', 'model.backbone.feat_channels=16',
        'model.backbone.depth=2', 'model.head.in_channels=16',
        'model.head.decimal_channels=16',
        'optim_wrapper.optimizer.lr=0.004', 'param_scheduler=[]',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'default_hooks.checkpoint.interval=1000', 'randomness.seed=0',
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.dataset.ann_file=test_wflw.json',
            f'{split}_dataloader.dataset.data_prefix.img=',
            f'{split}_dataloader.batch_size=2',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
        ]
    return opts


H3R_ITERS = 6  # one iteration per epoch: the fixture's 4 faces in one batch

# HRNet with the layout of HRNetV2-W18 but a few channels and one block per
# branch, so that a CPU iteration takes a fraction of a second.
TINY_HRNET = {
    'model.backbone.init_cfg': None,
    'model.backbone.extra.stage1.num_blocks': (1, ),
    'model.backbone.extra.stage1.num_channels': (8, ),
    'model.backbone.extra.stage2.num_blocks': (1, 1),
    'model.backbone.extra.stage2.num_channels': (4, 8),
    'model.backbone.extra.stage3.num_modules': 1,
    'model.backbone.extra.stage3.num_blocks': (1, 1, 1),
    'model.backbone.extra.stage3.num_channels': (4, 8, 16),
    'model.backbone.extra.stage4.num_modules': 1,
    'model.backbone.extra.stage4.num_blocks': (1, 1, 1, 1),
    'model.backbone.extra.stage4.num_channels': (4, 8, 16, 32),
    'model.head.in_channels': 60,
    'model.head.conv_out_channels': (60, ),
}


def cfg_options(data_root):
    opts = dict(TINY_HRNET)
    for split in ('train', 'val', 'test'):
        opts.update({
            f'{split}_dataloader.dataset.data_root': data_root,
            f'{split}_dataloader.dataset.ann_file': 'test_wflw.json',
            f'{split}_dataloader.dataset.data_prefix.img': '',
            f'{split}_dataloader.batch_size': 4,
            f'{split}_dataloader.num_workers': 0,
            f'{split}_dataloader.persistent_workers': False,
        })
    # Every step sees the same batch, without augmentation and warm-up and
    # with a larger lr, so six steps make a clear learning curve; only the
    # H3R rounding is still random.
    opts.update({
        'train_dataloader.dataset.pipeline.2.prob': 0.0,  # RandomFlip
        'train_dataloader.dataset.pipeline.3.rotate_prob': 0.0,
        'train_dataloader.dataset.pipeline.3.scale_prob': 0.0,
        'param_scheduler.0.start_factor': 1.0,
        'optim_wrapper.optimizer.lr': 0.01,
        'train_cfg.max_epochs': H3R_ITERS,
        'train_cfg.val_interval': H3R_ITERS,
        'default_hooks.logger.interval': 1,
        'log_processor.window_size': 1,  # log each iteration's own loss
        'default_hooks.checkpoint.interval': H3R_ITERS,
        'randomness.seed': 0,
    })
    return [f'{k}={v}' for k, v in opts.items()]


def annotated_image(root, ann_file):
    """The image of a COCO-style sample with the most annotated instances:
    its path and their boxes as integer (x1, y1, x2, y2)."""
    with open(osp.join(root, ann_file)) as f:
        coco = json.load(f)
    boxes = {}
    for ann in coco['annotations']:
        if ann.get('num_keypoints', 1) > 0:
            x, y, w, h = ann['bbox']
            boxes.setdefault(ann['image_id'], []).append(
                [int(x), int(y), int(x + w), int(y + h)])
    image = max(coco['images'], key=lambda i: len(boxes.get(i['id'], [])))
    return osp.join(root, image['file_name']), boxes[image['id']]


def run_each(runs, timeout=600):
    """Run ``[(tool, args), ...]`` in the tool server, each in its own
    forked child, without failing on an exit status; returns their
    CompletedProcess (with ``maxrss_kb``, the peak memory, and ``cpu_s``)
    in order."""
    return [run_tool(tool, *args, timeout=timeout, check=False)
            for tool, args in runs]
