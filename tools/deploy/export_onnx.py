"""Export a top-down model to ONNX, decoding included, and check the export.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--input-size W H] [--batch N | --dynamic-batch] [--opset N]
        [--verify [--verify-samples N]] [--tol PX] [--score-tol S]
        [--cfg-options ...]

The graph maps normalised crops (B, 3, h, w) to ``keypoints`` (B, K, 2) in
crop pixels and ``scores`` (B, K); its metadata holds plain values only
(docs/deploy.md, "Model files are data"). The file is written only after
the ONNX checker passed, the reader's crop matched the test pipeline's, and
onnxruntime ran random crops and, with ``--verify``, the config's
test-pipeline crops, each checked apart: (a) the graph's heatmaps against
PyTorch's, (b) the graph's decoding against the codec's on the same maps
(within ``--tol`` input pixels and ``--score-tol``), and the keypoints end to
end against PyTorch's own ``predict`` (flip test off), where a difference at
near-tied maps only is a warning that the model looks untrained.
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
from hih_plugin.cli import add_cfg_options, cli_main, load_config
from hih_plugin.cli.checks import check_dataset_paths
from hih_plugin.cli.checks.model import load_checkpoint_strict
from hih_plugin.cli.outputs import atomic_path, check_output_file
from hih_plugin.deploy import require_onnx
from hih_plugin.deploy.export import (DEFAULT_OPSET, MAP_RTOL, MAX_OPSET,
                                      TIE_RTOL)
from hih_plugin.deploy.metadata import MAX_SIDE
from hih_plugin.deploy.onnx_model import MAX_BATCH
from hih_plugin.errors import UserError

# Float32 rounding moves a decoded keypoint by about 1e-5 input px (ORT and
# PyTorch convolutions differ in the last bits); a decoding that differs
# (another argmax cell, decimal bin or top-k set) moves it by at least
# stride / decimal_size, 0.5 px for the HIH configs, and H3R's soft-argmax
# by a comparable step. 1e-3 px is far above the first and far below the
# second.
TOL_PX = 1e-3
TOL_SCORE = 1e-3
MAX_SAMPLES = 100_000


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


def check(name, r, args):
    """Say what the comparison found, and refuse what is not float
    rounding."""
    not_written = f'{args.out} was not written'
    print(f'{name}: {r["samples"]} crops, largest keypoint difference '
          f'{r["max_px"]:.3g} input px, largest score difference '
          f'{r["max_score"]:.3g}')
    print(f'{name}: (a) network heatmaps agree to {r["map_rtol"]:.3g} of '
          f'their largest value; (b) the graph decodes its maps as the '
          f'codec does to {r["decode_px"]:.3g} px and {r["decode_score"]:.3g}'
          ' in score')
    if r['nonfinite']:
        raise UserError(
            f"PyTorch's maps or keypoints are not finite (NaN or inf) on "
            f'{r["nonfinite"]} of {r["samples"]} {name}: the checkpoint\'s '
            f'weights are broken (a diverged training?), so there is '
            f'nothing to verify; {not_written}')
    if not r['map_rtol'] <= MAP_RTOL:
        raise UserError(
            f"(a) the graph's heatmaps differ from PyTorch's on {name} by "
            f'{r["map_rtol"]:.3g} of their largest value, far above float '
            f'rounding ({MAP_RTOL:g}): the export computes another network; '
            f'{not_written}')
    if not (r['decode_px'] <= args.tol and
            r['decode_score'] <= args.score_tol):
        raise UserError(
            f"(b) the graph's decoding differs from the codec's on the same "
            f'maps ({name}) by {r["decode_px"]:.3g} input px and '
            f'{r["decode_score"]:.3g} in score, above --tol {args.tol:g} / '
            f'--score-tol {args.score_tol:g}; {not_written}')
    if r['max_px'] <= args.tol and r['max_score'] <= args.score_tol:
        return
    if r['untied_px'] <= args.tol and r['untied_score'] <= args.score_tol:
        print(f'warning: the export differs from PyTorch on {name} by up to '
              f'{r["max_px"]:.3g} input px, only where the maps are flat (top '
              f'values within {TIE_RTOL:g} of each other, at {r["tied"]} '
              'keypoints): the model looks untrained, and float rounding '
              'picks another cell there. The maps (a) and the decoding (b) '
              'agree, so the export is correct; verify a trained checkpoint',
              file=sys.stderr)
        return
    raise UserError(
        f'the export differs from PyTorch on {name} by {r["max_px"]:.3g} '
        f'input px and {r["max_score"]:.3g} in score (outside flat maps: '
        f'{r["untied_px"]:.3g} px), above --tol {args.tol:g} / --score-tol '
        f'{args.score_tol:g}, although (a) and (b) agree; {not_written}')


def check_args(args):
    """Ranges of the numeric arguments and the output path, before any
    work."""
    opset = args.opset or DEFAULT_OPSET
    if not 7 <= opset <= MAX_OPSET:
        raise UserError(f'--opset {opset}: torch\'s exporter writes opsets 7 '
                        f'to {MAX_OPSET}; the default is {DEFAULT_OPSET}')
    if not 1 <= args.batch <= MAX_BATCH:
        raise UserError(f'--batch {args.batch} must be in [1, {MAX_BATCH}]; '
                        'for more, export with --dynamic-batch')
    if not 1 <= args.verify_samples <= MAX_SAMPLES:
        raise UserError(f'--verify-samples {args.verify_samples} must be in '
                        f'[1, {MAX_SAMPLES}]')
    for flag, value in (('--tol', args.tol), ('--score-tol',
                                              args.score_tol)):
        if not 0 <= value < float('inf'):  # also refuses NaN
            raise UserError(f'{flag} {value} must be a finite number of at '
                            'least 0')
    if args.input_size and not all(8 <= v <= MAX_SIDE
                                   for v in args.input_size):
        raise UserError(f'--input-size {args.input_size[0]} '
                        f'{args.input_size[1]}: each side must be in '
                        f'[8, {MAX_SIDE}] pixels')
    if not args.out.endswith('.onnx'):
        raise UserError(f'--out {args.out} must end with .onnx')
    return opset, check_output_file(args.out)


@cli_main
def main():
    enable_safe_loader()
    args = build_parser().parse_args()
    require_onnx()
    opset, out = check_args(args)
    from mmpose.apis import init_model

    from hih_plugin.deploy.export import (build_metadata, check_crop, compare,
                                          export_onnx, set_input_size)
    from hih_plugin.deploy.graph import describe_decoding
    from hih_plugin.deploy.onnx_model import OnnxPoseModel, ort_session

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
    metadata = build_metadata(cfg, args.config, decoding)
    input_size = tuple(metadata['input_size'])

    with atomic_path(out) as tmp:
        wrapper, graph = export_onnx(model, tmp, input_size, args.batch,
                                     args.dynamic_batch, opset, metadata)
        exported = OnnxPoseModel(tmp)
        check_crop(cfg, model, exported)
        session = ort_session(graph, f'the export of {args.out}', 1)
        check('random crops', compare(
            model, exported, session, wrapper,
            random_batches(input_size, max(2, args.batch), args.batch)),
            args)
        if args.verify:
            check('test crops', compare(model, exported, session, wrapper,
                                        test_batches(cfg),
                                        args.verify_samples), args)
    batch = 'dynamic' if args.dynamic_batch else args.batch
    print(f'wrote {args.out}: {decoding}; {input_size[0]}x{input_size[1]} '
          f'crops, batch {batch}, opset {opset}, '
          f'{osp.getsize(out) / 2**20:.1f} MiB')


if __name__ == '__main__':
    sys.exit(main())
