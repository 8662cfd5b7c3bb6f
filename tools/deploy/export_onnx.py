"""Export a top-down model to ONNX, decoding included, and check the export.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--input-size W H] [--batch N | --dynamic-batch] [--opset N]
        [--verify [--verify-samples N]] [--tol PX] [--score-tol S]
        [--cfg-options ...]

The graph maps normalised crops (B, 3, h, w) to ``keypoints`` (B, K, 2) in
crop pixels and ``scores`` (B, K); see README, "Deploy". The file is written
only after the ONNX checker passed and onnxruntime reproduced PyTorch's own
``predict`` (flip test off) on random crops and, with ``--verify``, on the
config's test-pipeline crops, within ``--tol`` input pixels and
``--score-tol``.
"""
import argparse
import os
import os.path as osp
import sys

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (add_cfg_options, check_dataset_paths, cli_main,
                            load_config)
from hih_plugin.cli.model_check import load_checkpoint_strict
from hih_plugin.deploy import require_onnx
from hih_plugin.errors import UserError

# Float32 rounding moves a decoded keypoint by about 1e-5 input px (ORT and
# PyTorch convolutions differ in the last bits); a decoding that differs
# (another argmax cell, decimal bin or top-k set) moves it by at least
# stride / decimal_size, 0.5 px for the HIH configs, and H3R's soft-argmax
# by a comparable step. 1e-3 px is far above the first and far below the
# second.
TOL_PX = 1e-3
TOL_SCORE = 1e-3


def build_parser():
    parser = argparse.ArgumentParser(
        description='Export a top-down pose model to ONNX with decoding '
        'inside the graph')
    parser.add_argument('config', help='pose model config file')
    parser.add_argument('checkpoint', help='pose model checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx to write')
    parser.add_argument(
        '--input-size', type=int, nargs=2, metavar=('W', 'H'),
        help='crop size; default the codec\'s. Another size retargets the '
        'codec (same stride) and the test pipeline; HIH\'s global decimal '
        'branch has as many layers as the heatmap size needs, so its '
        'checkpoints fit their own size only')
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument('--batch', type=int, default=1,
                       help='fixed batch size of the graph (default 1)')
    batch.add_argument('--dynamic-batch', action='store_true',
                       help='a graph that takes any batch size')
    parser.add_argument('--opset', type=int, default=None,
                        help='ONNX opset (default 17, at most 20)')
    parser.add_argument(
        '--verify', action='store_true',
        help='also compare with PyTorch on the crops of the config\'s test '
        'dataloader (flip test off)')
    parser.add_argument('--verify-samples', type=int, default=64,
                        help='crops --verify compares (default 64)')
    parser.add_argument('--tol', type=float, default=TOL_PX,
                        help=f'largest keypoint difference allowed, in input '
                        f'pixels (default {TOL_PX:g})')
    parser.add_argument('--score-tol', type=float, default=TOL_SCORE,
                        help=f'largest score difference allowed (default '
                        f'{TOL_SCORE:g})')
    add_cfg_options(
        parser, 'override settings of the config, as tools/train.py does: '
        'pass the same overrides the model was trained with')
    return parser


def random_batches(input_size, count, batch_size):
    """Data batches of random crops whose affine is the identity, so that
    PyTorch's predict returns crop pixels."""
    import torch
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    w, h = input_size
    gen = torch.Generator().manual_seed(0)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        samples = []
        for _ in range(n):
            sample = PoseDataSample(metainfo=dict(
                input_size=(w, h), input_center=np.array([w / 2, h / 2]),
                input_scale=np.array([w, h], dtype=np.float32)))
            sample.gt_instances = InstanceData(
                bboxes=np.array([[0, 0, w, h]], dtype=np.float32),
                bbox_scores=np.ones(1, dtype=np.float32))
            samples.append(sample)
        yield dict(inputs=list(torch.randint(0, 256, (n, 3, h, w),
                                             dtype=torch.uint8,
                                             generator=gen)),
                   data_samples=samples)


def test_batches(cfg):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    loader = dict(cfg.test_dataloader, num_workers=0,
                  persistent_workers=False)
    return Runner.build_dataloader(loader)


def check(name, result, args):
    print(f'{name}: {result["samples"]} crops, largest keypoint difference '
          f'{result["max_px"]:.3g} input px, largest score difference '
          f'{result["max_score"]:.3g}')
    if result['max_px'] > args.tol or result['max_score'] > args.score_tol:
        raise UserError(
            f'the export differs from PyTorch on {name} by '
            f'{result["max_px"]:.3g} input px and {result["max_score"]:.3g} '
            f'in score, above --tol {args.tol:g} / --score-tol '
            f'{args.score_tol:g}; {args.out} was not written')


@cli_main
def main():
    enable_safe_loader()
    args = build_parser().parse_args()
    require_onnx()
    from mmpose.apis import init_model

    from hih_plugin.deploy.export import (DEFAULT_OPSET, MAX_OPSET, compare,
                                          export_onnx, set_input_size)
    from hih_plugin.deploy.graph import describe_decoding
    from hih_plugin.deploy.onnx_model import OnnxPoseModel, build_metadata

    opset = args.opset or DEFAULT_OPSET
    if not 7 <= opset <= MAX_OPSET:
        raise UserError(f'--opset {opset}: torch\'s exporter writes opsets 7 '
                        f'to {MAX_OPSET}; the default is {DEFAULT_OPSET}')
    if args.batch < 1 or args.verify_samples < 1:
        raise UserError('--batch and --verify-samples must be at least 1')
    if args.tol < 0 or args.score_tol < 0:
        raise UserError('--tol and --score-tol must be at least 0')
    if not args.out.endswith('.onnx'):
        raise UserError(f'--out {args.out} must end with .onnx')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('data_mode', 'topdown') != 'topdown':
        raise UserError(f'{args.config} is a {cfg.data_mode} model; the '
                        'export handles top-down models')
    if args.input_size:
        set_input_size(cfg, args.input_size)
    if args.verify:  # the test data only: --verify evaluates no metric
        check_dataset_paths({'test_dataloader': cfg.test_dataloader},
                            ('test', ))
    model = init_model(cfg, None, device='cpu')
    load_checkpoint_strict(model, args.checkpoint)
    model.eval()
    # refuses an unsupported head before anything is traced
    decoding = describe_decoding(model.head)
    affine = [t for t in cfg.test_dataloader.dataset.pipeline
              if t.get('type') == 'TopdownAffine']
    if len(affine) != 1:
        raise UserError('the test pipeline needs one TopdownAffine, which '
                        'cuts the crops the graph takes')
    input_size = tuple(affine[0].input_size)

    tmp = args.out + '.part'
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    try:
        export_onnx(model, tmp, input_size, args.batch, args.dynamic_batch,
                    opset, build_metadata(cfg, args.config, input_size,
                                          decoding))
        exported = OnnxPoseModel(tmp)
        check('random crops', compare(
            model, exported, random_batches(input_size, max(2, args.batch),
                                            args.batch)), args)
        if args.verify:
            check('test crops', compare(model, exported, test_batches(cfg),
                                        args.verify_samples), args)
        os.replace(tmp, args.out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    batch = 'dynamic' if args.dynamic_batch else args.batch
    print(f'wrote {args.out}: {decoding}; {input_size[0]}x{input_size[1]} '
          f'crops, batch {batch}, opset {opset}, '
          f'{osp.getsize(args.out) / 2**20:.1f} MiB')


if __name__ == '__main__':
    sys.exit(main())
