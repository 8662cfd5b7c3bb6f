"""How far training losses fell: the mean of the first and of the last logged
iterations of a run, from the ``vis_data/scalars.json`` that MMEngine's
``LocalVisBackend`` writes into the work directory.

Example (the quick start's last step)::

    python tools/analysis/loss_trend.py work_dirs/quickstart \
        --keys loss_kpt loss_decimal

For curves, MMPose's ``tools/analysis_tools/analyze_logs.py plot_curve``
reads the same file.
"""
import glob
import os
import os.path as osp

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

from hih_plugin.cli import ArgumentParser, cli_main, number
from hih_plugin.cli.files import MAX_LOG_BYTES, parse_json, read_bounded
from hih_plugin.errors import UserError


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='the run\'s --work-dir')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='logged scalars to report')
    parser.add_argument('--window', type=number(int, 1, 10**6), default=5,
                        help='logged iterations averaged at each end')
    return parser.parse_args()


def train_records(work_dir):
    """The training records of the newest run in ``work_dir``."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    fix = 'delete or repair it (tools/train.py writes one JSON object a line)'
    for path in reversed(paths):
        data = read_bounded(path, 'training log', MAX_LOG_BYTES, fix)
        records = [parse_json(line, f'{path} (line {i + 1})', 'training log',
                              fix)
                   for i, line in enumerate(data.splitlines())
                   if line.strip()]
        records = [r for r in records if isinstance(r, dict) and 'loss' in r]
        if records:
            return path, records
    raise UserError(
        f'no training log in {work_dir}: expected '
        '<work_dir>/<timestamp>/vis_data/scalars.json with loss entries, as '
        'tools/train.py writes them')


def trend(records, key, window):
    values = [r[key] for r in records if key in r]
    # numbers only; a NaN stays, as the log's own account of a divergence
    values = [v for v in values
              if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not values:
        raise UserError(f'{key} was never logged as a number; '
                        'logged keys: '
                        f'{", ".join(sorted(records[0]))}')
    n = min(window, len(values))
    first, last = sum(values[:n]) / n, sum(values[-n:]) / n
    return first, last, len(values)


@cli_main
def main():
    args = parse_args()
    path, records = train_records(args.work_dir)
    print(f'{path}: {len(records)} logged iterations')
    for key in args.keys:
        first, last, count = trend(records, key, args.window)
        change = 'n/a' if first == 0 else f'{100 * (last / first - 1):+.1f}%'
        print(f'{key}: {first:.6g} (first {min(args.window, count)}) -> '
              f'{last:.6g} (last {min(args.window, count)}), {change}')


if __name__ == '__main__':
    main()
