"""Sub-pixel learning benchmark on procedurally generated landmarks.

Does a method *learn* sub-pixel positions, not just encode them? Each image
holds K coloured, anti-aliased Gaussian blobs whose centres are drawn at random
real-valued positions and rendered analytically at the pixel centres (MMPose's
convention: pixel ``i`` is centred at coordinate ``i``), so the ground truth is
exact. The same MMPose ``TopdownPoseEstimator`` -- MMPose's ``ResNet``
(ResNet-18 layout, 16 base channels, 3 stages, stride 16) -- is trained for
each method with the same seed, data, order, steps and optimizer; only the
head (32-channel deconvolutions up to the heatmap stride, then the method's
own layers), its loss and its codec differ:

* ``msra``  -- ``HeatmapHead`` + ``MSRAHeatmap``, MSE
* ``dark``  -- ``HeatmapHead`` + ``MSRAHeatmap(unbiased=True)``, MSE
* ``simcc`` -- ``SimCCHead`` + ``SimCCLabel`` with one bin per heatmap cell
  (the same resolution), KL
* ``hih``   -- ``HIHHead`` + ``HIHHeatmap`` (d = 8, or heatmap/2 when smaller)
* ``h3r``   -- ``H3RHead`` + ``H3RHeatmap``, BCE
* ``hih-w1`` (ablation, on request) -- ``hih`` with the decimal loss weighted
  1.0 instead of the paper's 0.05

Training runs through MMEngine's ``train_step`` on batches prepared by
MMPose's own transforms (``GetBBoxCenterScale``, ``TopdownAffine``,
``GenerateTarget``, ``PackPoseInputs``); testing through ``test_step``, which
decodes with each codec. NME is the mean landmark error over the image width,
in percent.

The default input is 64x64 with strides 4 and 8 (16x16 and 8x8 heatmaps).
HIH's decimal branch downsamples the heatmap-sized feature to d x d, so the
coarse heatmap must be at least 2d = 8 cells; 8x8 at 64 px has the same
relative resolution as stride 16 at 128 px, for a quarter of the compute
(``--input-size 128 --strides 4 16`` runs that).

Example (the run reported in the README)::

    python tools/analysis/subpixel_benchmark.py --out-dir docs/results/subpixel
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import hih_plugin  # noqa: F401  registers HIH and H3R parts
from hih_plugin.utils.cli import UserError, cli_main
from mmpose.datasets.transforms import (GenerateTarget, GetBBoxCenterScale,
                                        PackPoseInputs, TopdownAffine)
from mmpose.registry import MODELS

METHODS = ['msra', 'dark', 'simcc', 'hih', 'h3r']
# Ablation, not in the default list: HIH with the decimal (CSC) loss weighted
# 1.0 instead of the paper's 0.05.
EXTRA_METHODS = ['hih-w1']

# One distinct colour per landmark, so that the K landmarks are told apart.
PALETTE = np.array([[230, 40, 40], [40, 200, 40], [50, 80, 240],
                    [230, 210, 30], [200, 40, 220], [30, 210, 220],
                    [250, 140, 20], [140, 140, 140]], np.float32)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=METHODS,
                        choices=METHODS + EXTRA_METHODS)
    parser.add_argument('--input-size', type=int, default=64)
    parser.add_argument('--strides', type=int, nargs='+', default=[4, 8],
                        help='heatmap strides (input / heatmap size); each '
                        'must be a power of 2 between 2 and 16')
    parser.add_argument('--num-keypoints', type=int, default=4)
    parser.add_argument('--num-train', type=int, default=4000)
    parser.add_argument('--num-test', type=int, default=500)
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--threads', type=int, default=1,
        help='torch threads. 1 by default: these small convolutions gain '
        'little from 2, and on cores shared with other processes 2 OpenMP '
        'threads spin-wait (measured here: 0.5 s against 0.04 s a step)')
    parser.add_argument(
        '--tiny', action='store_true',
        help='a seconds-long smoke run for tests: input 64, strides 4 and 8, '
        '10 steps of batch 8, 16 test images (numbers mean nothing)')
    parser.add_argument('--out-dir', default='work_dirs/subpixel_benchmark')
    args = parser.parse_args()
    if args.tiny:
        args.input_size, args.strides = 64, [4, 8]
        args.steps, args.batch_size = 10, 8
        args.num_train, args.num_test = 32, 16
    for s in args.strides:
        if s not in (2, 4, 8, 16) or args.input_size % (s * 2):
            raise UserError(
                f'stride {s} must be 2, 4, 8 or 16, with the input size '
                f'({args.input_size}) divisible by twice the stride')
    if not 1 <= args.num_keypoints <= len(PALETTE):
        raise UserError(f'--num-keypoints must be in [1, {len(PALETTE)}]')
    return args


def make_images(num, size, num_keypoints, rng, noise=4.):
    """Images (N, S, S, 3) uint8 and exact landmarks (N, K, 2) float64,
    with Gaussian pixel noise of std ``noise``."""
    margin = 0.1 * size
    kpts = rng.uniform(margin, size - 1 - margin, (num, num_keypoints, 2))
    sigmas = rng.uniform(1.2, 2.2, (num, num_keypoints)) * size / 64
    grid = np.arange(size, dtype=np.float32)
    imgs = np.empty((num, size, size, 3), np.uint8)
    for n in range(num):
        # Smooth random background plus noise.
        base = rng.uniform(20, 90) + rng.uniform(-20, 20) * grid / size
        img = np.broadcast_to(base[None, :, None], (size, size, 3)).copy()
        for k in range(num_keypoints):
            # Analytic Gaussian sampled at the pixel centres: its centre, the
            # landmark, is recoverable to any precision.
            gx = np.exp(-(grid - kpts[n, k, 0])**2 / (2 * sigmas[n, k]**2))
            gy = np.exp(-(grid - kpts[n, k, 1])**2 / (2 * sigmas[n, k]**2))
            blob = gy[:, None] * gx[None, :]
            img += blob[..., None] * (PALETTE[k] - img) * 0.95
        img += rng.normal(0, noise, img.shape).astype(np.float32)
        imgs[n] = np.clip(np.round(img), 0, 255)
    return imgs, kpts


def method_model(method, size, stride, K):
    """The pose estimator config of one method at one heatmap stride."""
    hm = size // stride
    # Backbone stride is 16; deconvolutions bring the feature to the stride.
    n_up = int(np.log2(16 // stride))
    deconvs = (32, ) * n_up or None
    backbone = dict(
        type='ResNet', depth=18, stem_channels=16, base_channels=16,
        num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
        out_indices=(2, ))
    feat = 64
    msra = dict(type='MSRAHeatmap', input_size=(size, size),
                heatmap_size=(hm, hm), sigma=2.0)
    if method in ('msra', 'dark'):
        codec = dict(msra, unbiased=method == 'dark')
        head = dict(type='HeatmapHead', in_channels=feat, out_channels=K,
                    deconv_out_channels=deconvs,
                    deconv_kernel_sizes=(4, ) * n_up or None,
                    loss=dict(type='KeypointMSELoss', use_target_weight=True),
                    decoder=codec)
    elif method == 'simcc':
        codec = dict(type='SimCCLabel', input_size=(size, size), sigma=2.0,
                     simcc_split_ratio=1. / stride)
        head = dict(type='SimCCHead', in_channels=feat, out_channels=K,
                    input_size=(size, size),
                    in_featuremap_size=(size // 16, size // 16),
                    simcc_split_ratio=1. / stride,
                    deconv_out_channels=deconvs,
                    deconv_kernel_sizes=(4, ) * n_up or None,
                    loss=dict(type='KLDiscretLoss', use_target_weight=True,
                              beta=10., label_softmax=True),
                    decoder=codec)
    elif method in ('hih', 'hih-w1'):
        codec = dict(type='HIHHeatmap', input_size=(size, size),
                     heatmap_size=(hm, hm), decimal_size=min(8, hm // 2),
                     sigma=1.5, decimal_sigma=1.0, decode_mode='argmax')
        head = dict(type='HIHHead', in_channels=feat, out_channels=K,
                    heatmaps_from_backbone=False, deconv_out_channels=deconvs,
                    decimal_channels=32,
                    loss=dict(type='KeypointMSELoss', use_target_weight=True),
                    decimal_loss=dict(
                        type='DistributionLoss',
                        loss_weight=1.0 if method == 'hih-w1' else 0.05),
                    decoder=codec)
    elif method == 'h3r':
        codec = dict(type='H3RHeatmap', input_size=(size, size),
                     heatmap_size=(hm, hm), topk=min(9, hm * hm))
        # As configs/h3r_wflw.py: the final bias starts at the logit of a
        # 1/(H*W) foreground prior.
        prior = float(-np.log(hm * hm - 1))
        head = dict(type='H3RHead', in_channels=feat, out_channels=K,
                    deconv_out_channels=deconvs,
                    deconv_kernel_sizes=(4, ) * n_up or None,
                    loss=dict(type='H3RLoss', mode='bce'), decoder=codec,
                    init_cfg=[
                        dict(type='Normal',
                             layer=['Conv2d', 'ConvTranspose2d'], std=0.001,
                             override=dict(name='final_layer', type='Normal',
                                           std=0.001, bias=prior)),
                        dict(type='Constant', layer='BatchNorm2d', val=1)
                    ])
    model = dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor',
                               mean=[0., 0., 0.], std=[255., 255., 255.]),
        backbone=backbone, head=head, test_cfg=dict(flip_test=False))
    return model, codec


class Batcher:
    """Turns images into model batches with MMPose's top-down transforms."""

    def __init__(self, size, codec=None):
        self.transforms = [GetBBoxCenterScale(padding=1.0),
                           TopdownAffine(input_size=(size, size))]
        if codec is not None:
            self.transforms.append(
                GenerateTarget(encoder=copy.deepcopy(codec)))
        self.transforms.append(PackPoseInputs())
        self.size = size

    def __call__(self, imgs, kpts):
        items = []
        for img, kp in zip(imgs, kpts):
            # The bbox is the whole image, so the affine is the identity.
            results = dict(
                img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                bbox=np.array([[0, 0, self.size, self.size]], np.float32),
                bbox_score=np.ones(1, np.float32),
                keypoints=kp[None].astype(np.float32),
                keypoints_visible=np.ones((1, len(kp)), np.float32))
            for t in self.transforms:
                results = t(results)
            items.append(results)
        return pseudo_collate(items)


def train_and_test(method, stride, args, train, test):
    size, K = args.input_size, args.num_keypoints
    cfg, codec = method_model(method, size, stride, K)
    model = MODELS.build(cfg)
    # Seeded right before the initialisation, which visits the backbone
    # first: every method starts from the same backbone weights. The seed
    # also fixes H3R's rounding stream (derived from torch.initial_seed()).
    torch.manual_seed(args.seed)
    model.init_weights()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=args.lr))
    # Linear warm-up over the first 10% of steps, then cosine decay to 0:
    # the fine, sub-pixel part is learnt at small learning rates.
    warm = max(1, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim.optimizer, lambda i: min(1., (i + 1) / warm) * 0.5 *
        (1 + np.cos(np.pi * i / args.steps)))
    train_batches = Batcher(size, codec)
    order = np.random.default_rng(args.seed)
    imgs, kpts = train
    t0 = time.perf_counter()
    model.train()
    last = []
    for step in range(args.steps):
        idx = order.choice(len(imgs), args.batch_size, replace=False)
        losses = model.train_step(train_batches(imgs[idx], kpts[idx]), optim)
        sched.step()
        last.append(sum(float(v.detach()) if torch.is_tensor(v) else v
                        for k, v in losses.items() if k.startswith('loss')))
    train_s = time.perf_counter() - t0

    model.eval()
    test_batches = Batcher(size)
    preds = []
    with torch.no_grad():
        for i in range(0, len(test[0]), 64):
            out = model.test_step(test_batches(test[0][i:i + 64],
                                               test[1][i:i + 64]))
            preds += [s.pred_instances.keypoints[0] for s in out]
    err = np.linalg.norm(np.stack(preds) - test[1], axis=-1)
    return dict(
        method=method, stride=stride, heatmap_size=size // stride,
        nme_percent=100. * float(err.mean()) / size,
        err_px_mean=float(err.mean()), err_px_median=float(np.median(err)),
        final_loss=float(np.mean(last[-20:])), train_s=train_s,
        params=int(sum(p.numel() for p in model.parameters())))


@cli_main
def main():
    args = parse_args()
    # Model configs name MMPose's classes without the `mmpose.` prefix.
    init_default_scope('mmpose')
    # Keep stdout to results: no per-parameter initialisation report.
    MMLogger.get_instance('subpixel_benchmark', log_level='WARNING')
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    train = make_images(args.num_train, args.input_size, args.num_keypoints,
                        rng)
    test = make_images(args.num_test, args.input_size, args.num_keypoints,
                       rng)
    print(f'generated {args.num_train} train / {args.num_test} test images '
          f'in {time.perf_counter() - t0:.1f}s', flush=True)
    rows = []
    for stride in args.strides:
        for method in args.methods:
            row = train_and_test(method, stride, args, train, test)
            rows.append(row)
            print(f'stride {stride:2d} {method:6s} '
                  f'NME {row["nme_percent"]:.3f}%'
                  f' ({row["err_px_mean"]:.3f} px), loss '
                  f'{row["final_loss"]:.4g}, {row["train_s"]:.0f}s',
                  flush=True)
    for r in rows:
        ref = next((q for q in rows if q['method'] == 'msra'
                    and q['stride'] == r['stride']), None)
        if ref is not None:
            r['ratio_to_msra'] = r['nme_percent'] / ref['nme_percent']

    total = time.perf_counter() - t0
    S = args.input_size
    lines = [
        f'Synthetic sub-pixel benchmark: input {S}x{S}, K={args.num_keypoints}'
        f' blobs, {args.num_train} train / {args.num_test} test images, '
        f'{args.steps} steps of batch {args.batch_size}, Adam lr '
        f'{args.lr} (warm-up, cosine), seed {args.seed}, {torch.get_num_threads()} threads, '
        f'{total / 60:.1f} min in all. NME = mean error / {S} px, in %.', '',
        '| stride | heatmap | method | NME (%) | mean err (px) | '
        'x msra | params | train s |', '| --- ' * 8 + '|'
    ]
    for r in rows:
        ratio = r.get('ratio_to_msra')
        lines.append(
            f'| {r["stride"]} | {r["heatmap_size"]}x{r["heatmap_size"]} | '
            f'{r["method"]} | {r["nme_percent"]:.3f} | '
            f'{r["err_px_mean"]:.3f} | '
            f'{"n/a" if ratio is None else f"{ratio:.2f}"} | {r["params"]} | '
            f'{r["train_s"]:.0f} |')
    md = '\n'.join(lines) + '\n'
    print(md)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'results.md'), 'w') as f:
        f.write(md)
    meta = {k: v for k, v in vars(args).items() if k != 'out_dir'}
    meta.update(total_s=total, torch_threads=torch.get_num_threads(),
                command=' '.join(['python', osp.relpath(sys.argv[0])] +
                                 sys.argv[1:]))
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    print(f'wrote {args.out_dir}/results.md, results.json')


if __name__ == '__main__':
    main()
