"""Encode and decode speed of keypoint codecs, relative to ``MSRAHeatmap``
and, with ``--against``, to another checkout of this repository.

* encode: time per instance (K keypoints at random sub-pixel positions);
* decode: time for a batch of B network outputs (the codec's own targets plus
  noise), both by MMPose's per-sample loop (``codec.decode`` on each sample's
  numpy array, as ``BaseHead.decode`` does for codecs without
  ``batch_decode``) and, where the codec has one, by ``batch_decode`` on the
  torch tensor.

The codecs are timed in a worker interpreter that imports the checkout's
``hih_plugin``, one measurement at a time, interleaved over codecs within
each repeat, and the median over repeats is reported, so the ratios are
robust to load on a shared machine. The clock is the worker's CPU time by
default: on a loaded machine, and under ``nice``, elapsed time mostly
measures the wait for a core. Ratios are against ``MSRAHeatmap`` (the
``msra`` preset).

``--against REF`` (a directory holding a checkout, or a git revision, which
is exported to a temporary directory) starts a second worker on REF's
``hih_plugin`` and times every measurement on both sides back to back, the
order alternating between repeats, on the same inputs. It prints, per codec
and measurement, the median over repeats of the paired ratio ours / REF's
(below 1 is faster). MMPose's own codecs run the same code on both sides:
their ratios show how far the run's noise goes.

Example::

    python tools/analysis/benchmark_codecs.py --threads 1 \
        --out docs/results/codec_speed_1thread.json
    python tools/analysis/benchmark_codecs.py --threads 1 --against REV
"""
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tarfile
import tempfile
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np
import torch

# hih_plugin and codec_analysis (beside this file) are imported inside the
# functions that need them: the worker of --against runs this file on
# another checkout's hih_plugin, which may not have the modules that this
# checkout's main() uses.
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools

DEFAULT_CODECS = ['msra', 'dark', 'udp', 'simcc', 'hih', 'h3r-draw']
KINDS = ('encode', 'decode_loop', 'batch_decode')


def parse_args():
    from codec_analysis import PRESETS

    from hih_plugin.cli import ArgumentParser, number
    parser = ArgumentParser(description='Benchmark codec speed')
    parser.add_argument(
        '--codecs', nargs='+', default=DEFAULT_CODECS,
        help='preset names (' + ', '.join(PRESETS) + ') or configs with a '
        '`codec` dict; `msra` is always added as the reference')
    parser.add_argument('--num-keypoints', type=number(int, 1, 1000),
                        default=98)
    parser.add_argument('--input-size', type=number(int, 8, 4096),
                        default=256)
    parser.add_argument('--heatmap-size', type=number(int, 1, 1024),
                        default=64)
    parser.add_argument('--batch-size', type=number(int, 1, 4096),
                        default=64,
                        help='batch size of the decode benchmark')
    parser.add_argument('--encode-instances', type=number(int, 1, 10**5),
                        default=64,
                        help='instances encoded per repeat')
    parser.add_argument('--repeats', type=number(int, 1, 1000), default=7,
                        help='repeats; the median is reported')
    parser.add_argument('--threads', type=number(int, 1, 1024), default=None,
                        help='torch threads (default: torch default)')
    parser.add_argument(
        '--clock', choices=sorted(CLOCKS), default='cpu',
        help='cpu: CPU time of the timing process, which leaves out the '
        'time it waits for a core on a loaded machine (with more than one '
        'torch thread it adds up their times); wall: elapsed time. '
        'Default: cpu')
    parser.add_argument(
        '--against', metavar='REF',
        help='also time the codecs of another checkout, in the same run: '
        'a directory holding one, or a git revision of this repository')
    parser.add_argument('--seed', type=number(int, 0, 2**32 - 1), default=0)
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


CLOCKS = dict(cpu=time.process_time, wall=time.perf_counter)


def time_once(codec, kind, enc_kpts, vis, batch, clock):
    """Seconds of one measurement; None for ``batch_decode`` of a codec
    without one."""

    def timeit(fn):
        t = clock()
        fn()
        return clock() - t

    if kind == 'encode':
        return timeit(lambda: [codec.encode(k, vis) for k in enc_kpts]) / \
            len(enc_kpts)
    if kind == 'decode_loop':
        # MMPose's loop: to numpy per sample, then decode() per sample.
        return timeit(lambda: [
            codec.decode(*[a.numpy() for a in s])
            for s in zip(*[b.unbind(0) for b in batch])
        ])
    if not codec.support_batch_decoding:
        return None
    return timeit(lambda: codec.batch_decode(*batch))


def worker(spec_file):
    """Time the codecs of ``spec_file`` on request: "LABEL KIND" lines in
    on stdin, one JSON line out per request (after one line naming the
    hih_plugin package that was imported)."""
    # Replies keep the real stdout; anything the imports print goes to
    # stderr.
    reply = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    from mmpose.registry import KEYPOINT_CODECS

    import hih_plugin  # the checkout's, first on PYTHONPATH
    with open(spec_file) as f:
        spec = json.load(f)
    if spec['cpu'] is not None:
        os.sched_setaffinity(0, {spec['cpu']})
    if spec['threads']:
        torch.set_num_threads(spec['threads'])
    clock = CLOCKS[spec['clock']]
    arrays = np.load(spec['arrays'])
    enc_kpts = arrays['encode_keypoints']
    vis = np.ones(enc_kpts.shape[1:3], np.float32)
    codecs = {}
    for label, c in spec['codecs'].items():
        cfg = {k: tuple(v) if isinstance(v, list) else v
               for k, v in c['cfg'].items()}
        codecs[label] = (KEYPOINT_CODECS.build(cfg),
                         [torch.from_numpy(arrays[k]) for k in c['inputs']])
    reply.write(json.dumps(osp.dirname(osp.abspath(hih_plugin.__file__))) +
                '\n')
    for line in sys.stdin:
        label, kind = line.split()
        codec, batch = codecs[label]
        reply.write(json.dumps(
            time_once(codec, kind, enc_kpts, vis, batch, clock)) + '\n')


class Worker:
    """A worker interpreter on the ``hih_plugin`` of checkout ``root``."""

    def __init__(self, root, spec_file):
        from hih_plugin.errors import UserError
        self.root = root
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (root, env.get('PYTHONPATH')) if p)
        self.proc = subprocess.Popen(
            [sys.executable, osp.abspath(__file__), '--worker', spec_file],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env)
        package = self._read()
        if package != osp.join(root, 'hih_plugin'):
            self.close()
            raise UserError(
                f'the worker for {root} imported {package} instead of its '
                'hih_plugin; give a checkout that holds hih_plugin/')

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            from hih_plugin.errors import UserError
            raise UserError(
                f'the timing worker on {self.root} stopped (its messages are '
                'above); is every codec asked for defined in that checkout?')
        return json.loads(line)

    def time(self, label, kind):
        self.proc.stdin.write(f'{label} {kind}\n')
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def make_inputs(codec, keypoints, rng):
    """The batched decode inputs (targets plus noise) a head would hand to
    ``batch_decode``, as numpy arrays."""
    from codec_analysis import decode_inputs
    samples = []
    for kpts in keypoints:
        enc = codec.encode(kpts[None], np.ones((1, len(kpts)), np.float32))
        args = []
        for a in decode_inputs(codec, enc):
            a = np.asarray(a, np.float32)
            # A network never outputs -inf; floor log-probabilities (H3R).
            a = np.maximum(a, np.float32(-20.))
            args.append(a + 0.01 * rng.standard_normal(a.shape, np.float32))
        samples.append(args)
    return [np.stack([s[i] for s in samples]) for i in range(len(samples[0]))]


def write_spec(codecs, args, tmp):
    """Inputs and codec settings for the workers, in ``tmp``."""
    from codec_analysis import build_codec
    rng = np.random.default_rng(args.seed)
    size, hm = args.input_size, args.heatmap_size
    K = args.num_keypoints
    # Random sub-pixel positions well inside the input, as a face crop has.
    arrays = dict(encode_keypoints=rng.uniform(
        0.1 * size, 0.9 * size, (args.encode_instances, 1, K, 2)))
    dec_kpts = rng.uniform(0.1 * size, 0.9 * size, (args.batch_size, K, 2))
    # All workers run on one core, which they take in turns: they share its
    # caches and whatever else runs there (Linux only).
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
        else None
    spec = dict(threads=args.threads, clock=args.clock, cpu=cpu,
                arrays=osp.join(tmp, 'inputs.npz'), codecs={})
    for j, (label, cfg) in enumerate(codecs):
        codec = build_codec(cfg, (size, size), (hm, hm))
        keys = []
        for i, a in enumerate(make_inputs(codec, dec_kpts, rng)):
            keys.append(f'codec{j}_input{i}')
            arrays[keys[-1]] = a
        # build_codec's settings, so that both sides build the same codec
        cfg = dict(cfg, input_size=(size, size))
        if cfg['type'] == 'SimCCLabel':
            cfg['simcc_split_ratio'] = hm / size
        else:
            cfg['heatmap_size'] = (hm, hm)
        spec['codecs'][label] = dict(cfg=cfg, inputs=keys)
    np.savez(spec['arrays'], **arrays)
    with open(osp.join(tmp, 'spec.json'), 'w') as f:
        json.dump(spec, f)
    return osp.join(tmp, 'spec.json')


def export_revision(root, rev, dest):
    """``git archive`` of ``rev`` of the repository at ``root``, unpacked
    into ``dest``."""
    from hih_plugin.errors import UserError
    try:
        proc = subprocess.run(['git', '-C', root, 'archive', rev],
                              capture_output=True)
        why = proc.stderr.decode().strip().splitlines()[-1:] or ['failed']
    except OSError as err:  # no git
        proc, why = None, [str(err)]
    if proc is None or proc.returncode:
        raise UserError(
            f'--against {rev}: neither a directory nor a git revision of '
            f'{root} (git archive: {why[0]}); give a checkout directory or '
            'a commit')
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter='data')
    return dest


def bench(codecs, args, roots):
    """Median seconds per side, codec and measurement, and with two sides
    the median paired ratio of the first side to the second."""
    labels = [label for label, _ in codecs]
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(codecs, args, tmp)
        workers = []
        try:
            for root in roots:
                workers.append(Worker(root, spec))
            times = [{label: {k: [] for k in KINDS} for label in labels}
                     for _ in workers]
            # One untimed round first: the first calls pay for lazy
            # imports and allocations that no later call sees.
            for r in range(-1, args.repeats):
                # Alternate which side goes first, so that neither gets the
                # warmer caches or the quieter moments throughout.
                order = range(len(workers)) if r % 2 == 0 else \
                    reversed(range(len(workers)))
                order = list(order)
                for label in labels:
                    for kind in KINDS:
                        for i in order:
                            t = workers[i].time(label, kind)
                            if r >= 0:
                                times[i][label][kind].append(t)
        finally:
            for w in workers:
                w.close()
    medians = [{
        label: {k: None if v[0] is None else float(np.median(v))
                for k, v in t.items()}
        for label, t in side.items()
    } for side in times]
    ratios = None
    if len(times) == 2:
        ratios = {
            label: {
                k: None if new[0] is None else
                float(np.median(np.divide(new, times[1][label][k])))
                for k, new in t.items()
            }
            for label, t in times[0].items()
        }
    return medians, ratios


def fmt_ms(x):
    return 'n/a' if x is None else f'{1e3 * x:.3f}'


def fmt_ratio(x):
    return 'n/a' if x is None else f'{x:.2f}'


def msra_rows(res):
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
    return rows


def msra_table(rows, args):
    K, B, hm = args.num_keypoints, args.batch_size, args.heatmap_size
    lines = [
        f'Codec speed, K={K}, input {args.input_size}x{args.input_size}, '
        f'heatmap {hm}x{hm}, median of {args.repeats} repeats, '
        f'torch threads {torch.get_num_threads()}, {args.clock} time.', '',
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
    return lines


def against_rows(new, ref, ratios):
    return [
        dict(codec=label,
             **{f'{k}_s': new[label][k] for k in KINDS},
             **{f'{k}_ref_s': ref[label][k] for k in KINDS},
             **{f'{k}_ratio': ratios[label][k] for k in KINDS})
        for label in new
    ]


def against_table(rows, args, ref_name):
    B = args.batch_size
    head = ['| codec |']
    for kind in ('encode ms/instance', f'decode loop ms/batch {B}',
                 f'batch_decode ms/batch {B}'):
        head.append(f' {kind}, {ref_name} | ours | ours / {ref_name} |')
    lines = [
        f'Against {ref_name}: medians of {args.repeats} repeats, each '
        'measurement taken on both sides back to back; the ratio is the '
        'median of the paired ratios (below 1: ours is faster).', '',
        ''.join(head), '| --- ' * 10 + '|'
    ]
    for r in rows:
        cells = [r['codec']]
        for k in KINDS:
            cells += [fmt_ms(r[f'{k}_ref_s']), fmt_ms(r[f'{k}_s']),
                      fmt_ratio(r[f'{k}_ratio'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def main():
    # imported here, not at the top: see the note below the imports
    from codec_analysis import load_codec_cfg

    import hih_plugin
    from hih_plugin.cli import cli_main
    from hih_plugin.cli.outputs import check_output_file, write_text
    from hih_plugin.errors import UserError

    @cli_main
    def run():
        args = parse_args()
        if args.out:  # before the minutes of timing
            check_output_file(args.out)
            check_output_file(osp.splitext(args.out)[0] + '.md')
        if args.threads:
            torch.set_num_threads(args.threads)
        names = list(dict.fromkeys(['msra', *args.codecs]))
        try:
            codecs = [load_codec_cfg(c) for c in names]
        except (ValueError, FileNotFoundError) as err:
            raise UserError(str(err)) from err
        here = osp.dirname(osp.dirname(osp.abspath(hih_plugin.__file__)))
        load = [os.getloadavg()]
        with tempfile.TemporaryDirectory() as tmp:
            roots = [here]
            if args.against:
                roots.append(
                    osp.abspath(args.against) if osp.isdir(args.against)
                    else export_revision(here, args.against, tmp))
            try:
                res, ratios = bench(codecs, args, roots)
            except ValueError as err:
                raise UserError(str(err)) from err
        load.append(os.getloadavg())
        rows = msra_rows(res[0])
        lines = msra_table(rows, args)
        out = dict(rows=rows)
        if ratios is not None:
            out['against'] = against_rows(res[0], res[1], ratios)
            lines += [''] + against_table(out['against'], args,
                                          args.against)
        command = ' '.join(['python', osp.relpath(sys.argv[0])] +
                           sys.argv[1:])
        where = f'ours: {osp.relpath(here)}'
        if args.against:
            where += f'; {args.against}: ' + (
                osp.relpath(roots[1]) if osp.isdir(args.against) else
                'git archive')
        lines += ['', f'`{command}`', '', f'hih_plugin of {where}; load '
                  'average (1, 5, 15 min) before ' +
                  ', '.join(f'{x:.2f}' for x in load[0]) + ', after ' +
                  ', '.join(f'{x:.2f}' for x in load[1])]
        md = '\n'.join(lines) + '\n'
        print(md)
        if args.out:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            out['meta'] = dict(
                num_keypoints=args.num_keypoints,
                input_size=args.input_size, heatmap_size=args.heatmap_size,
                batch_size=args.batch_size, repeats=args.repeats,
                encode_instances=args.encode_instances,
                torch_threads=torch.get_num_threads(), clock=args.clock,
                against=args.against,
                load_average_before=load[0], load_average_after=load[1],
                command=command)
            write_text(args.out, json.dumps(out, indent=1))
            write_text(osp.splitext(args.out)[0] + '.md', md)
            print(f'wrote {args.out}')

    run()


if __name__ == '__main__':
    if sys.argv[1:2] == ['--worker']:
        worker(sys.argv[2])
    else:
        main()
