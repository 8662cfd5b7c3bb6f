"""Encode and decode speed of keypoint codecs, relative to ``MSRAHeatmap``.

* encode: time per instance (K keypoints at random sub-pixel positions);
* decode: time for a batch of B network outputs (the codec's own targets plus
  noise), both by MMPose's per-sample loop (``codec.decode`` on each sample's
  numpy array, as ``BaseHead.decode`` does for codecs without
  ``batch_decode``) and, where the codec has one, by ``batch_decode`` on the
  torch tensor.

All codecs are timed in the same process, interleaved per repeat, and the
median over repeats is reported, so the ratios are robust to load on a shared
machine. Ratios are against ``MSRAHeatmap`` (the ``msra`` preset).

Example::

    python tools/analysis/benchmark_codecs.py \
        --out docs/results/codec_speed.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np
import torch

import hih_plugin  # noqa: F401  registers HIHHeatmap and H3RHeatmap
from hih_plugin.cli import cli_main
from hih_plugin.cli.codec_analysis import (PRESETS, build_codec, decode_inputs,
                                           load_codec_cfg)
from hih_plugin.errors import UserError

DEFAULT_CODECS = ['msra', 'dark', 'udp', 'simcc', 'hih', 'h3r-draw']


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark codec speed')
    parser.add_argument(
        '--codecs', nargs='+', default=DEFAULT_CODECS,
        help='preset names (' + ', '.join(PRESETS) + ') or configs with a '
        '`codec` dict; `msra` is always added as the reference')
    parser.add_argument('--num-keypoints', type=int, default=98)
    parser.add_argument('--input-size', type=int, default=256)
    parser.add_argument('--heatmap-size', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=64,
                        help='batch size of the decode benchmark')
    parser.add_argument('--encode-instances', type=int, default=64,
                        help='instances encoded per repeat')
    parser.add_argument('--repeats', type=int, default=7,
                        help='repeats; the median is reported')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def _timeit(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def make_batch(codec, keypoints, rng):
    """Per-sample decode inputs (targets plus noise) and the batched torch
    tensors a head would hand to ``batch_decode``."""
    samples = []
    for kpts in keypoints:
        enc = codec.encode(kpts[None], np.ones((1, len(kpts)), np.float32))
        args = []
        for a in decode_inputs(codec, enc):
            a = np.asarray(a, np.float32)
            # A network never outputs -inf; floor log-probabilities (H3R).
            a = np.maximum(a, np.float32(-20.))
            args.append(a + 0.01 * rng.standard_normal(a.shape, np.float32))
        samples.append(tuple(args))
    batch = tuple(
        torch.from_numpy(np.stack([s[i] for s in samples]))
        for i in range(len(samples[0])))
    return samples, batch


def bench(codecs, args):
    rng = np.random.default_rng(args.seed)
    size = args.input_size
    K = args.num_keypoints
    # Random sub-pixel positions well inside the input, as a face crop has.
    enc_kpts = rng.uniform(0.1 * size, 0.9 * size,
                           (args.encode_instances, 1, K, 2))
    dec_kpts = rng.uniform(0.1 * size, 0.9 * size, (args.batch_size, K, 2))
    vis = np.ones((1, K), np.float32)
    built = {}
    for label, cfg in codecs:
        codec = build_codec(cfg, (size, size),
                            (args.heatmap_size, args.heatmap_size))
        samples, batch = make_batch(codec, dec_kpts, rng)
        built[label] = (codec, samples, batch)

    times = {label: dict(encode=[], decode_loop=[], batch_decode=[])
             for label in built}
    for _ in range(args.repeats):
        # Interleave codecs within each repeat, so that a burst of load from
        # other processes hits all of them alike.
        for label, (codec, samples, batch) in built.items():
            t = times[label]
            t['encode'].append(
                _timeit(lambda: [codec.encode(k, vis) for k in enc_kpts]) /
                len(enc_kpts))
            # MMPose's loop: to numpy per sample, then decode() per sample.
            t['decode_loop'].append(_timeit(lambda: [
                codec.decode(*[a.numpy() for a in s])
                for s in zip(*[b.unbind(0) for b in batch])
            ]))
            if codec.support_batch_decoding:
                t['batch_decode'].append(
                    _timeit(lambda: codec.batch_decode(*batch)))
    return {
        label: {k: float(np.median(v)) if v else None
                for k, v in t.items()}
        for label, t in times.items()
    }


def fmt_ms(x):
    return 'n/a' if x is None else f'{1e3 * x:.3f}'


def fmt_ratio(x):
    return 'n/a' if x is None else f'{x:.2f}'


@cli_main
def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(dict.fromkeys(['msra', *args.codecs]))
    try:
        codecs = [load_codec_cfg(c) for c in names]
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    try:
        res = bench(codecs, args)
    except ValueError as err:
        raise UserError(str(err)) from err
    ref = res['msra']
    rows = []
    for label, r in res.items():
        row = dict(codec=label, **{f'{k}_s': v for k, v in r.items()})
        row['encode_ratio_to_msra'] = r['encode'] / ref['encode']
        row['decode_loop_ratio_to_msra'] = r['decode_loop'] / \
            ref['decode_loop']
        if r['batch_decode'] is not None:
            # How many times faster batch_decode is than the per-sample
            # loops: of the same codec, and of MMPose's MSRAHeatmap.
            row['batch_speedup_vs_own_loop'] = \
                r['decode_loop'] / r['batch_decode']
            row['batch_speedup_vs_msra_loop'] = \
                ref['decode_loop'] / r['batch_decode']
        rows.append(row)

    K, B, hm = args.num_keypoints, args.batch_size, args.heatmap_size
    lines = [
        f'Codec speed, K={K}, input {args.input_size}x{args.input_size}, '
        f'heatmap {hm}x{hm}, median of {args.repeats} repeats, '
        f'torch threads {torch.get_num_threads()}.', '',
        f'| codec | encode ms/instance | x msra | decode loop ms/batch {B} '
        f'| x msra | batch_decode ms/batch {B} | speed-up vs own loop | '
        'speed-up vs msra loop |', '| --- ' * 8 + '|'
    ]
    for r in rows:
        lines.append(
            f'| {r["codec"]} | {fmt_ms(r["encode_s"])} | '
            f'{fmt_ratio(r["encode_ratio_to_msra"])} | '
            f'{fmt_ms(r["decode_loop_s"])} | '
            f'{fmt_ratio(r["decode_loop_ratio_to_msra"])} | '
            f'{fmt_ms(r["batch_decode_s"])} | '
            f'{fmt_ratio(r.get("batch_speedup_vs_own_loop"))} | '
            f'{fmt_ratio(r.get("batch_speedup_vs_msra_loop"))} |')
    md = '\n'.join(lines) + '\n'
    print(md)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        meta = dict(
            num_keypoints=K, input_size=args.input_size, heatmap_size=hm,
            batch_size=B, repeats=args.repeats,
            encode_instances=args.encode_instances,
            torch_threads=torch.get_num_threads(),
            command=' '.join(['python', osp.relpath(sys.argv[0])] +
                             sys.argv[1:]))
        with open(args.out, 'w') as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
        with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
            f.write(md)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
