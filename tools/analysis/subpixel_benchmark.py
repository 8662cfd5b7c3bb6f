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
* ``hih``   -- ``HIHHead`` + ``HIHHeatmap`` (d = 8, or heatmap/2 when smaller),
  the paper's global decimal branch
* ``hih-local`` -- the same with ``decimal_mode='local'``: the decimal logits
  are read at each landmark's own cell, from bins spanning 3 cells, trained
  at the 3x3 cells around the true one (the local configs' setting); its
  model is also decoded without votes (``-novotes``), with plain vote weights
  (``-p1``) and with its argmax cell taken on blurred scores (``-blur2``,
  ``-blur3``: ``HIHHead(argmax_blur=...)``, sigma in cells)
* ``h3r``   -- ``H3RHead`` + ``H3RHeatmap``, BCE
* on request: ``hih-w1`` (``hih`` with the decimal loss weighted 1.0 instead
  of the paper's 0.05) and the local variants of ``LOCAL_VARIANTS``: one
  option at a time (the one-cell read-out trained at the true cell,
  ``-jitter``, ``-votes``, the integer map's sigma and loss, ...) and
  combinations

``--regime`` picks where landmarks are:

* ``anywhere`` -- K blobs at uniformly random positions;
* ``confined`` -- blob k stays within ``--confined-radius`` pixels (per axis)
  of its own fixed anchor, as landmarks do in aligned face crops;
* ``faces`` -- the 98-landmark faces of ``tools/make_demo_data.py`` under a
  random pose, cropped top-down around their landmarks' box (padding 1.25)
  as MMPose does; NME is inter-ocular (landmarks 60 and 72);
* ``photos`` -- real face photographs with 300-W's 68 landmarks (``--photos``,
  LFPW's training set), split by the fixed lists of
  ``tools/dataset_converters/splits/`` and read through the project's 300-W
  converter and MMPose's ``Face300WDataset`` (``real_faces.py``); training
  augments with MMPose's flip (300-W's flip pairs), rotation, scaling and
  shift; NME is inter-ocular (outer eye corners 36 and 45), with FR@8 and
  the error per part of the face and per head turn. Without the photographs
  the regime is skipped, saying why.

Training runs through MMEngine's ``train_step`` on batches prepared by
MMPose's own transforms (``GetBBoxCenterScale``, ``TopdownAffine``,
``GenerateTarget``, ``PackPoseInputs``); testing through ``test_step``, which
decodes with each codec. For blobs, NME is the mean landmark error over the
image width, in percent. HIH rows also report ``loss_decimal`` averaged over
the first and the last steps, which shows whether the decimal branch learnt.

Every row also splits the error: the share of landmarks whose nearest cell to
the prediction is not the true cell (cell misses), the NME of those and of the
rest, and for codecs that decode from heatmaps the share whose argmax cell is
wrong. ``--seeds`` repeats everything per seed; the summary table gives the
mean and spread (max - min) of each row.

The default input is 64x64 with strides 4 and 8 (16x16 and 8x8 heatmaps).
HIH's decimal branch downsamples the heatmap-sized feature to d x d, so the
coarse heatmap must be at least 2d = 8 cells; 8x8 at 64 px has the same
relative resolution as stride 16 at 128 px, for a quarter of the compute
(``--input-size 128 --strides 4 16`` runs that).

Examples (runs reported in docs/results.md)::

    python tools/analysis/subpixel_benchmark.py --regime anywhere confined \
        --methods msra dark hih hih-local --steps 1000 \
        --out-dir docs/results/subpixel
    python tools/analysis/subpixel_benchmark.py --regime faces \
        --input-size 128 --strides 4 8 --num-train 1000 --num-test 200 \
        --steps 600 --seeds 0 1 --methods msra dark h3r hih hih-local \
        --out-dir docs/results/faces
"""
import argparse
import contextlib
import copy
import json
import multiprocessing
import os
import os.path as osp
import sys
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import hih_plugin  # noqa: F401  registers HIH and H3R parts
from hih_plugin import testing
from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.files import MAX_LOG_BYTES, load_json
from hih_plugin.cli.outputs import check_output_dir, write_text
from hih_plugin.errors import UserError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
import real_faces  # noqa: E402  # isort:skip
from batcher import Batcher  # noqa: E402  # isort:skip

METHODS = ['msra', 'dark', 'simcc', 'h3r', 'hih', 'hih-local']
# Local HIH variants: codec and head options on top of the paper's codec
# (d = 8 bins over one cell). 'hih-local' is the default local read-out, that
# of the local configs: bins spanning 3 cells (24 bins, still 1/8 cell each)
# trained at the 3x3 cells around the true one, decoded as the mean bin with
# the neighbours' votes (weighted by the map cubed; 64 channels wide here,
# wider in the configs), on an integer map trained as H3R trains its own: a
# per-cell BCE (H3RLoss) against the Gaussian target, at the local codec's
# default sigma (0.75 cell below stride 8, 0.5 from stride 8 on). The
# decimal loss weight is 0.05 per 8 x 8 bins (DistributionLoss averages over
# the d x d bins), i.e. 0.45 for 24 x 24, with an MSE integer map; next to
# BCE's ~20x larger loss it is 20x that.
SPAN3 = (dict(decimal_span=3, decimal_size=24), dict(loss_weight=0.45))


def _bce(loss_weight, head=None, sigma=1.0, **codec):
    """A span-3 read-out trained at the neighbours on a BCE integer map."""
    return (dict(SPAN3[0], sigma=sigma, **codec),
            dict(loss_weight=loss_weight, readout_cells='neighbours',
                 loss=dict(type='H3RLoss', mode='bce'), **(head or {})))


def _local(loss_weight=2.25, sigma=None, softmax_weight=0., **head):
    """The default local read-out ('hih-local'): 64 channels wide, with its
    votes (weighted by the integer map cubed) and mean-bin decoding; or the
    same at another decimal weight, integer target sigma (None: the local
    codec's default at the stride), weight of the integer loss's softmax
    term, or with other head options."""
    head = {'neighbour_votes': True, 'vote_power': 3., 'decimal_channels': 64,
            **head}
    cfg = _bce(loss_weight, head, sigma=sigma, decode_mode='expectation')
    if softmax_weight:
        cfg[1]['loss']['softmax_weight'] = softmax_weight
    return cfg


def _prev(**kw):
    """The default until 2026-12-01 (a 32-channel read-out, votes weighted
    by the plain map), at which the ablations of the sigma, the decimal
    weight and the softmax term ran."""
    kw.setdefault('sigma', 0.75)  # the default sigma at that time
    return _local(decimal_channels=32, vote_power=1., **kw)


LOCAL_VARIANTS = {
    # the read-out before decimal_span: true cell only, one-cell bins
    'hih-local-cell': ({}, dict(readout_cells='truth')),
    'hih-local-cell-joint': ({}, dict(readout_cells='truth',
                                      decimal_bins='joint')),
    # one option at a time
    'hih-local-span3': (SPAN3[0], dict(SPAN3[1], readout_cells='truth')),
    'hih-local-jitter': (SPAN3[0], dict(SPAN3[1], readout_cells='jitter')),
    'hih-local-s1': (dict(sigma=1.0), dict(readout_cells='truth')),
    'hih-local-s2': (dict(sigma=2.0), dict(readout_cells='truth')),
    # the integer map as a spatial softmax classification (H3RLoss's
    # 'softmax' mode on the Gaussian target) instead of MSE
    'hih-local-ce': ({}, dict(readout_cells='truth',
                              loss=dict(type='H3RLoss', mode='softmax'))),
    'hih-local-expect': (dict(decode_mode='expectation'),
                         dict(readout_cells='truth')),
    # the default before the BCE integer map, and its combinations
    'hih-local-mse': (SPAN3[0], dict(SPAN3[1], readout_cells='neighbours')),
    'hih-local-votes': (SPAN3[0], dict(SPAN3[1], readout_cells='neighbours',
                                       neighbour_votes=True)),
    'hih-local-joint': (SPAN3[0], dict(SPAN3[1], readout_cells='neighbours',
                                       decimal_bins='joint')),
    'hih-local-s1-nb': (dict(SPAN3[0], sigma=1.0),
                        dict(SPAN3[1], readout_cells='neighbours')),
    # the same with the decimal weight 0.05 (9x less per landmark)
    'hih-local-s1-nb-lw': (dict(SPAN3[0], sigma=1.0),
                           dict(readout_cells='neighbours')),
    'hih-local-expect-nb': (dict(SPAN3[0], decode_mode='expectation'),
                            dict(SPAN3[1], readout_cells='neighbours')),
    # the integer map as logits of a per-cell BCE against the Gaussian
    # target (as H3R trains its one-hot maps), sigma 1.0 and 1.5
    'hih-local-bce': _bce(0.45),
    'hih-local-bce-s15': _bce(0.45, sigma=1.5),
    # BCE's loss is ~20x MSE's: heavier decimal weights keep its share
    'hih-local-bce-w5': _bce(2.25),
    'hih-local-bce-w10': _bce(4.5),
    'hih-local-bce-w20': _bce(9.),
    'hih-local-bce-w40': _bce(18.),
    # the w10 model (same training) decoded with the mean bin
    'hih-local-bce-w10-expect': _bce(4.5, decode_mode='expectation'),
    # the default with the integer target's sigma 0.5, 1 (the default
    # before 0.75) and 1.5 cells, and with the decimal weight 1 to 4.5
    'hih-local-s05': _prev(sigma=0.5),
    'hih-local-s10': _prev(sigma=1.0),
    'hih-local-s15': _prev(sigma=1.5),
    'hih-local-w1': _prev(loss_weight=1.),
    'hih-local-w15': _prev(loss_weight=1.5),
    'hih-local-w3': _prev(loss_weight=3.),
    'hih-local-w45': _prev(loss_weight=4.5),
    # the integer BCE plus a spatial softmax term (H3RLoss softmax_weight)
    'hih-local-sm025': _prev(softmax_weight=0.25),
    'hih-local-sm1': _prev(softmax_weight=1.),
    'hih-local-sm4': _prev(softmax_weight=4.),
    'hih-local-sm2-w45': _prev(loss_weight=4.5, softmax_weight=2.),
    'hih-local-sm4-w45': _prev(loss_weight=4.5, softmax_weight=4.),
    'hih-local-sm4-w9': _prev(loss_weight=9., softmax_weight=4.),
    # the read-out's width; the '-p1' row (plain vote weights) of the
    # 32-channel one is the previous default
    # the default with the integer target's sigma 0.5, 0.75 or 1.5 cell
    # (which sigma suits which stride)
    'hih-local-sigma05': _local(sigma=0.5),
    'hih-local-sigma075': _local(sigma=0.75),
    'hih-local-sigma10': _local(sigma=1.0),
    'hih-local-sigma15': _local(sigma=1.5),
    'hih-local-c32': _local(decimal_channels=32),
    'hih-local-c128': _local(decimal_channels=128),
    # the default with a spatial softmax term in the integer loss (weight
    # 1), a lighter decimal loss (weight 1), and both
    'hih-local-softmax1': _local(softmax_weight=1.),
    'hih-local-decw1': _local(loss_weight=1.),
    'hih-local-sm1-dw1': _local(loss_weight=1., softmax_weight=1.),
    'hih-local': _local(),
}
# Ablations, not in the default list: HIH with the decimal (CSC) loss
# weighted 1.0 instead of the paper's 0.05, and the local variants above.
EXTRA_METHODS = ['hih-w1', 'simcc-rtm'] + [
    m for m in LOCAL_VARIANTS if m != 'hih-local']
REGIMES = ['anywhere', 'confined', 'faces', 'photos']
# The outer eye corners, the inter-ocular distance: WFLW's (the drawn faces)
# and 300-W's (the photographs).
EYES = dict(faces=(60, 72), photos=real_faces.EYES)
FACE_REGIMES = tuple(EYES)

# One distinct colour per landmark, so that the K landmarks are told apart.
PALETTE = np.array([[230, 40, 40], [40, 200, 40], [50, 80, 240],
                    [230, 210, 30], [200, 40, 220], [30, 210, 220],
                    [250, 140, 20], [140, 140, 140]], np.float32)


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=METHODS,
                        choices=METHODS + EXTRA_METHODS)
    parser.add_argument('--regime', nargs='+', default=['anywhere'],
                        choices=REGIMES, help='where landmarks are (above)')
    parser.add_argument(
        '--confined-radius', type=number(float, 0, 16), default=3.,
        help='confined regime: landmarks stay within this many pixels of '
        'their anchor on each axis, at a 64 px input (scaled with the input)')
    parser.add_argument(
        '--photos', default=real_faces.DEFAULT_PHOTOS,
        help='photos regime: a 300-W style folder of the LFPW training set '
        '(image_XXXX.jpg beside image_XXXX.pts)')
    parser.add_argument(
        '--photo-splits', default=real_faces.SPLITS, metavar='DIR',
        help='photos regime: the folder of lfpw_68_train.txt and '
        'lfpw_68_val.txt, the image names of each split (default: the '
        'fixed lists of tools/dataset_converters/splits)')
    parser.add_argument(
        '--head-from', nargs='+', default=[], metavar='CONFIG',
        help='also measure the codec and head of these configs (a method '
        'named after each file), on the benchmark\'s backbone with only '
        'the sizes fitted')
    parser.add_argument('--input-size', type=number(int, 32, 1024), default=64)
    parser.add_argument('--strides', type=number(int, 2, 16),
                        nargs='+', default=[4, 8],
                        help='heatmap strides (input / heatmap size); each '
                        'must be a power of 2 between 2 and 16')
    parser.add_argument('--num-keypoints', type=number(int, 1, 98), default=4,
                        help='blobs per image (the faces regime has 98)')
    parser.add_argument('--num-train', type=number(int, 1, 10**6),
                        default=4000)
    parser.add_argument('--num-test', type=number(int, 1, 10**6), default=500)
    parser.add_argument('--steps', type=number(int, 1, 10**7), default=1500)
    parser.add_argument('--batch-size', type=number(int, 1, 4096), default=32)
    parser.add_argument('--lr', type=number(float, 1e-8, 10), default=2e-3)
    parser.add_argument(
        '--seeds', type=number(int, 0, 2**32 - 1), nargs='+', default=[0],
        help='one full run per seed (data, initialisation, order); the '
        'summary gives the mean and spread of each row over the seeds')
    parser.add_argument(
        '--threads', type=number(int, 1, 1024), default=1,
        help='torch threads. 1 by default: these small convolutions gain '
        'little from 2, and on cores shared with other processes 2 OpenMP '
        'threads spin-wait (measured here: 0.5 s against 0.04 s a step)')
    parser.add_argument(
        '--jobs', type=number(int, 1, 1024), default=1,
        help='trainings run in parallel processes, each on --threads torch '
        'threads (e.g. 2 on a 2-core machine); results do not depend on it')
    parser.add_argument(
        '--tiny', action='store_true',
        help='a seconds-long smoke run for tests: input 64, 10 steps of '
        'batch 8, 32 train and 16 test images (numbers mean nothing)')
    parser.add_argument('--out-dir', default='work_dirs/subpixel_benchmark')
    parser.add_argument(
        '--merge', nargs='+', metavar='JSON',
        help='train nothing: combine the results.json of runs made with the '
        'same settings (other seeds or methods, e.g. run in parallel) into '
        'one report in --out-dir')
    args = parser.parse_args()
    if args.tiny:
        args.input_size = 64
        args.steps, args.batch_size = 10, 8
        args.num_train, args.num_test = 32, 16
    for s in args.strides:
        if s not in (2, 4, 8, 16) or args.input_size % (s * 2):
            raise UserError(
                f'stride {s} must be 2, 4, 8 or 16, with the input size '
                f'({args.input_size}) divisible by twice the stride')
    for path in args.head_from:
        if not osp.isfile(path):
            raise UserError(f'--head-from {path}: no such config file')
        name = osp.splitext(osp.basename(path))[0]
        HEAD_FROM[name] = path
        args.methods = [*args.methods, name]
    if not 1 <= args.num_keypoints <= len(PALETTE):
        raise UserError(f'--num-keypoints must be in [1, {len(PALETTE)}]')
    return args


def make_images(num, size, num_keypoints, rng, noise=4., anchors=None,
                radius=0.):
    """Images (N, S, S, 3) uint8 and exact landmarks (N, K, 2) float64,
    with Gaussian pixel noise of std ``noise``. With ``anchors`` (K, 2),
    landmark k lies within ``radius`` pixels of anchor k on each axis."""
    margin = 0.1 * size
    if anchors is None:
        kpts = rng.uniform(margin, size - 1 - margin,
                           (num, num_keypoints, 2))
    else:
        kpts = anchors + rng.uniform(-radius, radius, (num, ) + anchors.shape)
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


def make_faces(num, size, rng):
    """Drawn 98-landmark faces (``tools/make_demo_data.py``) in images twice
    the input size, with their landmarks and landmark boxes (x1, y1, x2, y2).
    """
    imgs, kpts = [], []
    for _ in range(num):
        pts = testing.random_pose(testing.face_template(rng), 2 * size, rng)
        imgs.append(testing.render(pts, 2 * size, rng))
        kpts.append(pts)
    kpts = np.stack(kpts)
    boxes = np.concatenate([kpts.min(1), kpts.max(1)], -1)
    return np.stack(imgs), kpts, boxes


def make_data(args, rng):
    """Train and test sets ``(images, landmarks, boxes)`` of the regime."""
    size, K = args.input_size, args.num_keypoints
    if args.regime == 'photos':
        train, test, args.flip_indices = real_faces.make_data(
            args.photos, size, args.photo_splits)
        return train, test
    if args.regime == 'faces':
        return (make_faces(args.num_train, size, rng),
                make_faces(args.num_test, size, rng))
    anchors, radius = None, 0.
    if args.regime == 'confined':
        radius = args.confined_radius * size / 64
        margin = 0.1 * size + radius
        anchors = rng.uniform(margin, size - 1 - margin, (K, 2))
    whole = np.array([0, 0, size, size], np.float32)
    out = []
    for num in (args.num_train, args.num_test):
        imgs, kpts = make_images(num, size, K, rng, anchors=anchors,
                                 radius=radius)
        out.append((imgs, kpts, np.tile(whole, (num, 1))))
    return out


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
    elif method.startswith('simcc'):
        # 'simcc': one bin per heatmap cell; 'simcc-rtm': RTMPose's face
        # configs (2 bins a pixel, sigma 5.66 bins at 256 px) scaled to the
        # input, whatever the stride
        ratio, sigma = ((1. / stride, 2.0) if method == 'simcc' else
                        (2.0, 5.66 * size / 256))
        codec = dict(type='SimCCLabel', input_size=(size, size), sigma=sigma,
                     simcc_split_ratio=ratio)
        head = dict(type='SimCCHead', in_channels=feat, out_channels=K,
                    input_size=(size, size),
                    in_featuremap_size=(size // 16, size // 16),
                    simcc_split_ratio=ratio,
                    deconv_out_channels=deconvs,
                    deconv_kernel_sizes=(4, ) * n_up or None,
                    loss=dict(type='KLDiscretLoss', use_target_weight=True,
                              beta=10., label_softmax=True),
                    decoder=codec)
    elif method in HEAD_FROM:
        codec, head = config_head(HEAD_FROM[method], size, hm, K, feat,
                                  deconvs)
    elif method.startswith('hih'):
        codec = dict(type='HIHHeatmap', input_size=(size, size),
                     heatmap_size=(hm, hm), decimal_size=min(8, hm // 2),
                     sigma=1.5, decimal_sigma=1.0, decode_mode='argmax')
        head = dict(type='HIHHead', in_channels=feat, out_channels=K,
                    heatmaps_from_backbone=False, deconv_out_channels=deconvs,
                    decimal_channels=32, decimal_mode='global',
                    neighbour_votes=False, vote_power=1.,
                    loss=dict(type='KeypointMSELoss', use_target_weight=True),
                    decimal_loss=dict(
                        type='DistributionLoss',
                        loss_weight=1.0 if method == 'hih-w1' else 0.05),
                    decoder=codec)
        if method in LOCAL_VARIANTS:
            codec_opts, head_opts = copy.deepcopy(LOCAL_VARIANTS[method])
            codec.update(codec_opts)
            if codec['sigma'] is None:  # the local default at this stride
                codec['decimal_mode'] = 'local'
            head['decimal_loss']['loss_weight'] = head_opts.pop(
                'loss_weight', 0.05)
            head.update(head_opts, decimal_mode='local')
    elif method == 'h3r':
        codec = dict(type='H3RHeatmap', input_size=(size, size),
                     heatmap_size=(hm, hm), topk=min(9, hm * hm))
        # H3RHead's default init starts the final bias at the logit of a
        # 1/(H*W) foreground prior.
        head = dict(type='H3RHead', in_channels=feat, out_channels=K,
                    deconv_out_channels=deconvs,
                    deconv_kernel_sizes=(4, ) * n_up or None,
                    loss=dict(type='H3RLoss', mode='bce'), decoder=codec)
    model = dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor',
                               mean=[0., 0., 0.], std=[255., 255., 255.]),
        backbone=backbone, head=head, test_cfg=dict(flip_test=False))
    return model, codec


# Methods of --head-from: name -> the config's file.
HEAD_FROM = {}


def config_head(path, size, hm, K, feat, deconvs):
    """The codec and head of the config at ``path``, with only the sizes
    fitted to the benchmark: input and heatmap size, the head's input
    channels (the backbone's) and its keypoint count; the deconvolutions
    up to the heatmap stride are the benchmark's, as every method's."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)  # configs are code, by MMPose's convention
    head = copy.deepcopy(cfg.model.head.to_dict())
    if head.get('decoder') is None:
        raise UserError(f'--head-from {path}: its head has no decoder')
    codec = dict(head['decoder'], input_size=(size, size),
                 heatmap_size=(hm, hm))
    head.update(decoder=codec, in_channels=feat, out_channels=K)
    head['deconv_out_channels'] = deconvs
    if head['type'] == 'HIHHead':  # its deconvolutions have kernel 4
        head['heatmaps_from_backbone'] = False
    else:
        head['deconv_kernel_sizes'] = (4, ) * len(deconvs or ()) or None
    return codec, head


def to_cells(points, centers, scales, input_size, stride):
    """Image points (N, K, 2) -> heatmap coordinates of their crops, the
    inverse of the top-down estimator's ``x = u * s / input_size * scale +
    center - scale / 2``; cell ``i`` is centred at ``i``."""
    scales = np.asarray(scales, np.float64)[:, None]
    return ((points - np.asarray(centers, np.float64)[:, None] +
             0.5 * scales) / scales * input_size / stride)


def error_split(pred_u, gt_u, nme, argmax_cells=None):
    """Which part of the error comes from cell misses.

    Args:
        pred_u, gt_u (np.ndarray): Predicted and true landmarks in heatmap
            coordinates (N, K, 2)
        nme (np.ndarray): Each landmark's normalised error (N, K), in %
        argmax_cells (np.ndarray, optional): The integer cells the codec
            decoded from (N, K, 2), where it has them

    Returns:
        dict: ``cell_miss_percent``, the share of landmarks whose nearest
        cell to the prediction is not the true cell; ``nme_miss`` and
        ``nme_hit``, the NME of those and of the rest (NaN when empty);
        ``error_share_miss_percent``, their share of the summed error;
        ``far_miss_percent`` and ``error_share_far_percent`` the same for
        the landmarks predicted more than 2 cells away (gross errors, which
        no read-out around the argmax can mend); with ``argmax_cells``,
        ``argmax_miss_percent`` likewise for the decoded integer cells.
    """
    true_cell = np.floor(gt_u + 0.5)
    miss = (np.floor(pred_u + 0.5) != true_cell).any(-1)
    far = np.linalg.norm(pred_u - gt_u, axis=-1) > 2
    out = dict(
        cell_miss_percent=100. * float(miss.mean()),
        nme_miss=float(nme[miss].mean()) if miss.any() else float('nan'),
        nme_hit=float(nme[~miss].mean()) if (~miss).any() else float('nan'),
        error_share_miss_percent=100. * float(nme[miss].sum() / nme.sum()),
        far_miss_percent=100. * float(far.mean()),
        error_share_far_percent=100. * float(nme[far].sum() / nme.sum()))
    if argmax_cells is not None:
        out['argmax_miss_percent'] = 100. * float(
            (argmax_cells != true_cell).any(-1).mean())
    return out


def train_and_test(method, stride, args, regime, train, test):
    size, K = args.input_size, train[1].shape[1]
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
    padding = 1.25 if regime in FACE_REGIMES else 1.0
    if regime == 'photos':
        # MMPose's augmentation draws from numpy's global generator
        np.random.seed(args.seed)
        train_batches = Batcher(size, codec, padding,
                                augment=real_faces.augmentations(),
                                flip_indices=args.flip_indices)
    else:
        train_batches = Batcher(size, codec, padding)
    order = np.random.default_rng(args.seed)
    imgs, kpts, boxes = train
    t0 = time.perf_counter()
    model.train()
    history = []
    for step in range(args.steps):
        idx = order.choice(len(imgs), min(args.batch_size, len(imgs)),
                           replace=False)
        losses = model.train_step(
            train_batches(imgs[idx], kpts[idx], boxes[idx]), optim)
        sched.step()
        history.append({k: float(v.detach()) for k, v in losses.items()
                        if k.startswith('loss')})
    train_s = time.perf_counter() - t0

    window = max(1, min(50, args.steps // 10))

    def mean_loss(part, key=None):
        return float(np.mean([sum(h.values()) if key is None else h[key]
                              for h in part]))

    row = dict(
        regime=regime, method=method, stride=stride,
        heatmap_size=size // stride,
        final_loss=mean_loss(history[-window:]), train_s=train_s,
        params=int(sum(p.numel() for p in model.parameters())))
    if 'loss_decimal' in history[0]:
        row.update(
            decimal_loss_start=mean_loss(history[:window], 'loss_decimal'),
            decimal_loss_end=mean_loss(history[-window:], 'loss_decimal'))
    rows = [dict(row, **evaluate(model, method, stride, padding, args,
                                 regime, test))]
    # Votes change only the decoding: the same trained read-out, decoded
    # with them if it ran without and vice versa, is one more row, and
    # votes to another power than 1 give a row with the plain weights.
    head = model.head
    if getattr(head, 'readout_cells', 'truth') == 'truth':
        return rows
    power0 = head.vote_power
    decodings = [('+votes' if not head.neighbour_votes else '-novotes',
                  not head.neighbour_votes, head.vote_power)]
    if head.neighbour_votes and head.vote_power != 1:
        decodings.append(('-p1', True, 1.))
    for suffix, votes, power in decodings:
        head.neighbour_votes, head.vote_power = votes, power
        rows.append(dict(row, method=method + suffix,
                         **evaluate(model, method, stride, padding, args,
                                    regime, test)))
    # and with votes, the argmax cell picked on blurred scores (argmax_blur)
    head.neighbour_votes, head.vote_power = True, power0
    for sigma in ARGMAX_BLURS if not head.argmax_blur else ():
        head.argmax_blur = sigma
        rows.append(dict(row, method=f'{method}-blur{sigma:g}',
                         **evaluate(model, method, stride, padding, args,
                                    regime, test)))
    return rows


# The argmax blurs (HIHHead's argmax_blur, in cells) decoded as rows of
# their own for every read-out trained around the true cell.
ARGMAX_BLURS = (2., 3.)


def evaluate(model, method, stride, padding, args, regime, test):
    """NME and its split on the test set, through ``test_step``."""
    size = args.input_size
    model.eval()
    # the decoded integer cells come from the heatmaps the head returns
    has_maps = not method.startswith('simcc')
    model.test_cfg['output_heatmaps'] = has_maps
    test_batches = Batcher(size, padding=padding)
    preds, centers, scales, argmax = [], [], [], []
    with torch.no_grad():
        for i in range(0, len(test[0]), 64):
            out = model.test_step(
                test_batches(*(t[i:i + 64] for t in test)))
            for s in out:
                preds.append(s.pred_instances.keypoints[0])
                centers.append(s.metainfo['input_center'])
                scales.append(s.metainfo['input_scale'])
                if has_maps:
                    hm = s.pred_fields.heatmaps
                    hm = (hm.cpu().numpy() if torch.is_tensor(hm) else
                          np.asarray(hm))
                    idx = hm.reshape(len(hm), -1).argmax(-1)
                    argmax.append(np.stack([idx % hm.shape[-1],
                                            idx // hm.shape[-1]], -1))
    preds = np.stack(preds)
    err = np.linalg.norm(preds - test[1], axis=-1)
    if regime in FACE_REGIMES:
        a, b = EYES[regime]
        norm = np.linalg.norm(test[1][:, a] - test[1][:, b], axis=-1)[:, None]
    else:
        norm = size
    split = error_split(
        to_cells(preds, centers, scales, size, stride),
        to_cells(test[1], centers, scales, size, stride),
        100. * err / norm, np.stack(argmax) if has_maps else None)
    if regime == 'photos':
        split.update(real_faces.face_split(100. * err / norm, test[1]))
    return dict(nme_percent=100. * float((err / norm).mean()),
                err_px_mean=float(err.mean()),
                err_px_median=float(np.median(err)), **split)


def _fmt(value, spec='.2f'):
    return 'n/a' if value is None or value != value else f'{value:{spec}}'


# The photos regime's split: FR@8, NME per part of the face, per head turn.
PHOTO_KEYS = ('fr8_percent', *(f'nme_{p}' for p in real_faces.PARTS), *(
    'nme_' + name.replace(' ', '_') for *_, name in real_faces.POSE_BINS))


def summarise(rows):
    """Mean and spread (max - min) over seeds of each (regime, stride,
    method): NME, its ratio to MSRA's (of the same seed) and the split."""
    keys = ('nme_percent', 'ratio_to_msra', 'cell_miss_percent', 'nme_miss',
            'nme_hit', 'argmax_miss_percent') + PHOTO_KEYS
    groups = {}
    for r in rows:
        key = (r['regime'], r['stride'], r['method'])
        groups.setdefault(key, []).append(r)
    out = []
    for (regime, stride, method), rs in groups.items():
        row = dict(regime=regime, stride=stride, method=method,
                   heatmap_size=rs[0]['heatmap_size'], seeds=len(rs))
        for k in keys:
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                row[k] = float(np.mean(vals))
                row[k + '_spread'] = float(np.max(vals) - np.min(vals))
        out.append(row)
    return out


def markdown(rows, summary, args, total):
    S = args.input_size
    lines = [
        f'Sub-pixel benchmark: input {S}x{S}, drawn regimes '
        f'{args.num_train} train / {args.num_test} test images, photos the '
        'faces of the split lists (tools/dataset_converters/splits/), '
        f'{args.steps} steps of batch {args.batch_size}, Adam lr '
        f'{args.lr} (warm-up, cosine), seeds {args.seeds}, '
        f'{torch.get_num_threads()} torch thread(s), {total / 60:.1f} min in '
        f'all. Blob regimes: K={args.num_keypoints}, NME = mean error / {S} '
        'px; faces: K=98, NME = mean error / inter-ocular distance (60/72); '
        'photos: K=68, the same over 300-W\'s outer eye corners (36/45); '
        'in %. loss_decimal: mean of the first and of the last '
        f'{max(1, min(50, args.steps // 10))} steps. Error split: a landmark '
        'is a cell miss when the cell nearest its prediction is not its true '
        'cell; argmax miss: the integer cell the codec decoded from is not.',
        '', 'Mean over the seeds each row ran with (seeds '
        f'{args.seeds}), +- spread (max - min) where there are several:', '',
        '| regime | stride | heatmap | method | NME (%) | x msra | '
        'cell miss (%) | NME of misses | NME of the rest | argmax miss (%) |',
        '| --- ' * 10 + '|'
    ]

    def pm(r, k, spec='.2f'):
        if k not in r:
            return 'n/a'
        spread = r.get(k + '_spread')
        return _fmt(r[k], spec) + (f' +- {spread:{spec}}'
                                   if r['seeds'] > 1 else '')

    for r in summary:
        lines.append(
            f'| {r["regime"]} | {r["stride"]} | '
            f'{r["heatmap_size"]}x{r["heatmap_size"]} | {r["method"]} | '
            f'{pm(r, "nme_percent", ".3f")} | {pm(r, "ratio_to_msra")} | '
            f'{pm(r, "cell_miss_percent", ".1f")} | '
            f'{pm(r, "nme_miss")} | {pm(r, "nme_hit")} | '
            f'{pm(r, "argmax_miss_percent", ".1f")} |')
    photos = [r for r in summary if r['regime'] == 'photos']
    if photos:
        names = [k[4:].replace('_', ' ') if k.startswith('nme_') else 'FR@8'
                 for k in PHOTO_KEYS]
        lines += ['', 'Photos: failure rate (a face\'s NME above 8%, in %), '
                  'NME per part of the face and per head turn (the nose '
                  'tip\'s offset from the middle of the jaw\'s ends over '
                  'their distance: frontal below 0.1, turned below 0.2):', '',
                  '| stride | method | ' + ' | '.join(names) + ' |',
                  '| --- ' * (2 + len(names)) + '|']
        lines += [f'| {r["stride"]} | {r["method"]} | ' + ' | '.join(
            pm(r, k) for k in PHOTO_KEYS) + ' |' for r in photos]
    lines += [
        '', 'Every run:', '',
        '| regime | stride | method | seed | NME (%) | mean err (px) | '
        'x msra | share of error in misses (%) | far misses (> 2 cells, '
        '%) | their share of error (%) | loss_decimal start -> end '
        '| params | train s |', '| --- ' * 13 + '|'
    ]
    for r in rows:
        dec = (f'{r["decimal_loss_start"]:.4g} -> {r["decimal_loss_end"]:.4g}'
               if 'decimal_loss_start' in r else 'n/a')
        lines.append(
            f'| {r["regime"]} | {r["stride"]} | {r["method"]} | {r["seed"]} '
            f'| {r["nme_percent"]:.3f} | {r["err_px_mean"]:.3f} | '
            f'{_fmt(r.get("ratio_to_msra"))} | '
            f'{_fmt(r["error_share_miss_percent"], ".1f")} | '
            f'{_fmt(r.get("far_miss_percent"), ".2f")} | '
            f'{_fmt(r.get("error_share_far_percent"), ".1f")} | {dec} | '
            f'{r["params"]} | {r["train_s"]:.0f} |')
    return '\n'.join(lines) + '\n'


@cli_main
def main():
    args = parse_args()
    check_output_dir(args.out_dir, '--out-dir')  # before hours of training
    if args.merge:
        rows, total, commands = merge(args.merge, args)
        report(rows, args, total, command='python ' + ' '.join(
            [osp.relpath(sys.argv[0])] + sys.argv[1:]), merged=commands)
        return
    # Model configs name MMPose's classes without the `mmpose.` prefix.
    init_default_scope('mmpose')
    # Keep stdout to results: no per-parameter initialisation report.
    MMLogger.get_instance('subpixel_benchmark', log_level='WARNING')
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    skip = 'photos' in args.regime and real_faces.missing_reason(args.photos)
    if skip:
        print(f'skipping the photos regime: {skip}', flush=True)
        args.regime = [r for r in args.regime if r != 'photos']
        if not args.regime:
            return
    jobs = []
    for seed, regime in ((s, r) for s in args.seeds for r in args.regime):
        # the same data for every stride and method of a regime and seed;
        # the photographs are the same for every seed
        rng = np.random.default_rng(seed)
        args_r = argparse.Namespace(**vars(args))
        args_r.regime, args_r.seed = regime, seed
        t1 = time.perf_counter()
        first = (args.seeds[0], regime)
        if regime == 'photos' and first in _DATA:
            _DATA[seed, regime] = _DATA[first]
        else:
            _DATA[seed, regime] = make_data(args_r, rng)
            # the photos' flip pairs, for the seeds after this one
            args.flip_indices = getattr(args_r, 'flip_indices', None)
        train, test = _DATA[seed, regime]
        print(f'{regime} seed {seed}: {len(train[0])} train / '
              f'{len(test[0])} test images in '
              f'{time.perf_counter() - t1:.1f}s', flush=True)
        jobs += [(method, stride, args_r) for stride in args.strides
                 for method in args.methods]
    rows = []
    # forked workers inherit the generated data; each trains one model
    pool = (multiprocessing.get_context('fork').Pool(args.jobs)
            if args.jobs > 1 else None)
    with pool or contextlib.nullcontext():
        for job_rows in (pool.imap if pool else map)(_run_job, jobs):
            for row in job_rows:
                rows.append(row)
                print(
                    f'{row["regime"]} seed {row["seed"]} stride '
                    f'{row["stride"]:2d} {row["method"]:20s} NME '
                    f'{row["nme_percent"]:.3f}% ({row["err_px_mean"]:.3f} '
                    f'px), cell miss {row["cell_miss_percent"]:.1f}%, loss '
                    f'{row["final_loss"]:.4g}, {row["train_s"]:.0f}s '
                    f'[{(time.perf_counter() - t0) / 60:.1f} min]',
                    flush=True)
    report(rows, args, time.perf_counter() - t0,
           command=' '.join(['python', osp.relpath(sys.argv[0])] +
                            sys.argv[1:]))


_DATA = {}  # (seed, regime) -> (train, test), filled before forking


def _run_job(job):
    method, stride, args = job
    torch.set_num_threads(args.threads)
    train, test = _DATA[args.seed, args.regime]
    rows = train_and_test(method, stride, args, args.regime, train, test)
    for row in rows:
        row['seed'] = args.seed
    return rows


# Settings that must agree between merged runs (seeds and methods may not).
SETTINGS = ('input_size', 'num_train', 'num_test', 'steps', 'batch_size',
            'lr', 'num_keypoints', 'confined_radius')


def merge(paths, args):
    """Rows of several results.json files made with the same settings."""
    rows, metas, seen = [], [], set()
    for path in paths:
        res = load_json(path, '--merge file', MAX_LOG_BYTES,
                        "pass this tool's results.json")
        try:
            meta, new = res['meta'], res['rows']
        except (KeyError, TypeError) as e:
            raise UserError(f'--merge: cannot read {path} as this tool\'s '
                            f'results.json ({e})')
        if metas:
            diff = [k for k in SETTINGS if meta.get(k) != metas[0].get(k)]
            if diff:
                raise UserError(
                    f'--merge: {path} was run with other settings '
                    f'({", ".join(diff)}) than {paths[0]}; merge only runs '
                    'that differ in seeds or methods')
        metas.append(meta)
        for r in new:
            key = (r['regime'], r['stride'], r['method'], r['seed'])
            if key not in seen:  # runs are deterministic: keep the first
                seen.add(key)
                rows.append({k: v for k, v in r.items()
                             if k != 'ratio_to_msra'})
    for k in SETTINGS:
        setattr(args, k, metas[0].get(k))
    # what was trained, and how, as the runs recorded it
    for k in ('methods', 'regime', 'strides', 'head_from'):
        setattr(args, k, list(dict.fromkeys(
            v for m in metas for v in m.get(k) or [])))
    for k in ('jobs', 'threads', 'photos', 'photo_splits', 'flip_indices'):
        if k in metas[0]:
            setattr(args, k, metas[0][k])
    torch.set_num_threads(metas[0].get('torch_threads', 1))
    args.seeds = sorted({r['seed'] for r in rows})
    # the commands that trained, so that a merged report still says how
    # to reproduce its numbers
    commands = [c for m in metas
                for c in m.get('merged_commands') or [m.get('command')] if c]
    return rows, sum(m.get('total_s', 0.) for m in metas), commands


def report(rows, args, total, command, merged=None):
    """Ratios to MSRA, the summary over seeds, Markdown and JSON."""
    for r in rows:
        ref = next((q for q in rows if q['method'] == 'msra'
                    and q['stride'] == r['stride'] and q['seed'] == r['seed']
                    and q['regime'] == r['regime']), None)
        if ref is not None:
            r['ratio_to_msra'] = r['nme_percent'] / ref['nme_percent']
    summary = summarise(rows)
    md = markdown(rows, summary, args, total)
    print(md)
    print(f'wall time: {total / 60:.1f} min')
    check_output_dir(args.out_dir, '--out-dir')
    write_text(osp.join(args.out_dir, 'results.md'), md)
    meta = {k: v for k, v in vars(args).items() if k != 'out_dir'}
    # the split lists default to an absolute path: record where they are
    # relative to the run, as the command line does, not this machine's
    meta['photo_splits'] = osp.relpath(args.photo_splits)
    meta.update(total_s=total, torch_threads=torch.get_num_threads(),
                date=time.strftime('%Y-%m-%d'), command=command)
    if merged:
        meta['merged_commands'] = merged
    write_text(osp.join(args.out_dir, 'results.json'), json.dumps(
        dict(meta=meta, summary=summary, rows=rows), indent=1))
    print(f'wrote {args.out_dir}/results.md, results.json')


if __name__ == '__main__':
    main()
