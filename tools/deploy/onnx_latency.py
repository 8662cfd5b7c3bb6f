"""CPU latency of the ONNX export in onnxruntime against PyTorch eager.

    python tools/deploy/onnx_latency.py CONFIG [CONFIG ...]
        [--batch-sizes 1 32] [--threads 1] [--repeats 10] [--warmup 2]
        [--decimal-modes global local] [--cfg-options ...] [--out FILE.json]

An HIH config is timed once per ``--decimal-modes`` entry (its head's
``decimal_mode`` set to it), other configs once. Each model is built with
random weights, exported with a dynamic batch (tools/deploy/export_onnx.py's
export) and timed side by side, the runs interleaved: ``torch`` runs the
same module that was exported (network and decoding) eagerly under
``torch.inference_mode``; ``ort`` runs the export in onnxruntime. Both get
``--threads`` intra-op threads (onnxruntime one inter-op thread, sequential
execution) and flush denormals to zero, so that random weights, whose
activations decay towards denormals, time like trained ones. Reported: the
median time per batch and the ratio ort/torch.

The defaults are slow on CPU: batch 32 of a full-size WFLW model takes tens
of seconds per run, and on 2 cores the defaults for hih-t_wflw and h3r_wflw
(both decimal modes) run for over an hour (docs/results/deploy.md: 30 min
with --repeats 3 --warmup 1). A short run, batch 1 only::

    python tools/deploy/onnx_latency.py configs/h3r_wflw.py \
        --batch-sizes 1 --repeats 3 --warmup 1
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

from mmengine.logging import MMLogger

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.cli import add_cfg_options, cli_main, load_config
from hih_plugin.cli.outputs import check_output_file, write_text
from hih_plugin.deploy import require_onnx
from hih_plugin.errors import UserError


def build_parser():
    parser = argparse.ArgumentParser(
        description='onnxruntime vs PyTorch eager latency on CPU')
    parser.add_argument('configs', nargs='+', help='pose model configs')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads of both runtimes (default 1)')
    parser.add_argument('--repeats', type=int, default=10,
                        help='timed runs per runtime and batch size')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed runs first')
    parser.add_argument('--decimal-modes', nargs='+',
                        default=['global', 'local'],
                        choices=['global', 'local'],
                        help='decimal_mode(s) to time HIH configs in')
    add_cfg_options(parser, 'overrides applied to every config')
    parser.add_argument('--out', help='also write the results as JSON')
    return parser


def timed(fn, x) -> float:
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def variants(path, args):
    """(label, config) pairs to time: HIH configs in each decimal mode."""
    cfg = load_config(path, args.cfg_options)
    cfg.model.setdefault('backbone', {})['init_cfg'] = None  # no download
    if cfg.model.head.type != 'HIHHead':
        return [(osp.basename(path), cfg)]
    out = []
    for mode in args.decimal_modes:
        variant = copy.deepcopy(cfg)
        variant.model.head.decimal_mode = mode
        out.append((f'{osp.basename(path)} ({mode})', variant))
    return out


def bench_config(label, cfg, args, tmp):
    import onnxruntime as ort
    import torch
    from mmpose.apis import init_model

    from hih_plugin.deploy.export import DEFAULT_OPSET, export_onnx
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    # MMEngine logs every initialised parameter
    MMLogger.get_current_instance().setLevel('WARNING')
    model.init_weights()
    model.eval()
    affine = [t for t in cfg.test_dataloader.dataset.pipeline
              if t.get('type') == 'TopdownAffine']
    w, h = affine[0].input_size
    onnx_path = osp.join(tmp, 'model.onnx')
    wrapper, _ = export_onnx(model, onnx_path, (w, h), 1, True,
                             DEFAULT_OPSET)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry('session.set_denormal_as_zero', '1')
    session = ort.InferenceSession(onnx_path, options,
                                   providers=['CPUExecutionProvider'])

    def run_torch(x):
        with torch.inference_mode():
            wrapper(x)

    def run_ort(x):
        session.run(None, {'input': x.numpy()})

    rows = []
    for batch in args.batch_sizes:
        x = torch.randn(batch, 3, h, w)
        times = dict(torch=[], ort=[])
        for i in range(args.warmup + args.repeats):
            for name, fn in (('torch', run_torch), ('ort', run_ort)):
                t = timed(fn, x)
                if i >= args.warmup:
                    times[name].append(t)
        row = dict(config=label, batch=batch,
                   torch_ms=1e3 * statistics.median(times['torch']),
                   ort_ms=1e3 * statistics.median(times['ort']))
        row['ratio'] = row['ort_ms'] / row['torch_ms']
        print(f'| {row["config"]} | {batch} | {row["torch_ms"]:.1f} | '
              f'{row["ort_ms"]:.1f} | {row["ratio"]:.2f} |', flush=True)
        rows.append(row)
    return rows


@cli_main
def main():
    args = build_parser().parse_args()
    require_onnx()
    import onnxruntime as ort
    import torch
    if not (1 <= args.threads <= 256 and 1 <= args.repeats <= 10_000
            and 0 <= args.warmup <= 10_000 and all(
                1 <= b <= 1024 for b in args.batch_sizes)):
        raise UserError('--threads must be in [1, 256], --repeats in [1, '
                        '10000], --warmup in [0, 10000] and each of '
                        '--batch-sizes in [1, 1024]')
    out = args.out and check_output_file(args.out)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f'torch {torch.__version__}, onnxruntime {ort.__version__}, '
          f'{args.threads} thread(s), median of {args.repeats} runs after '
          f'{args.warmup} warm-up, random weights')
    print('| config | batch | torch eager ms | onnxruntime ms | ort/torch |')
    print('|---|---|---|---|---|')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.configs:
            for label, cfg in variants(path, args):
                rows += bench_config(label, cfg, args, tmp)
    if args.out:
        write_text(out, json.dumps(dict(
            threads=args.threads, repeats=args.repeats, warmup=args.warmup,
            torch=torch.__version__, onnxruntime=ort.__version__,
            results=rows), indent=1))


if __name__ == '__main__':
    sys.exit(main())
