"""Evaluate a face-alignment model on every standard test split of its
dataset in one run, and write the paper-style table and CED curves.

    python tools/analysis/face_eval.py CONFIG CHECKPOINT
        [--data-root DIR] [--out-dir DIR] [--cfg-options KEY=VALUE ...]

The splits, as files under the dataset's ``data_root`` (docs/training.md,
section "Data preparation", says where each comes from):

- WFLW: full test set and its six subsets (pose, expression, illumination,
  make-up, occlusion, blur);
- 300W: common, challenge and full (the ``valid`` files), and test;
- COFW: test;
- AFLW: full and frontal.

For each split it runs MMEngine's test loop with the config's ``NME`` and a
``FailureRateAUC`` that keeps each image's NME, and writes
``face_eval.json``, ``face_eval.md`` (NME %, FR@10 %, AUC@10 per split) and
``face_eval_ced.png`` (the cumulative error distribution of every split).
"""
import copy
import json
import os
import os.path as osp
import sys
import time

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (ArgumentParser, add_cfg_options, cli_main,
                            load_config, number)
from hih_plugin.cli.checks import leaf_datasets
from hih_plugin.cli.checks.model import (check_checkpoint_file,
                                         check_checkpoint_fits)
from hih_plugin.cli.checks.run import check_finite_metrics, check_run_data
from hih_plugin.cli.files import MAX_ANNOTATION_BYTES, check_regular_file
from hih_plugin.cli.outputs import (atomic_path, check_output_dir,
                                    check_output_file, write_text)
from hih_plugin.errors import DATA_PREP_DOC, UserError

OUTPUTS = ('face_eval.json', 'face_eval.md', 'face_eval_ced.png')

_WFLW = 'annotations/face_landmarks_wflw_test{}.json'
_300W = 'annotations/face_landmarks_300w_{}.json'
# dataset type -> [(split, annotation file under data_root)], in the order
# papers list them
SPLITS = {
    'WFLWDataset': [('full', _WFLW.format('')),
                    ('pose', _WFLW.format('_largepose')),
                    ('expression', _WFLW.format('_expression')),
                    ('illumination', _WFLW.format('_illumination')),
                    ('make-up', _WFLW.format('_makeup')),
                    ('occlusion', _WFLW.format('_occlusion')),
                    ('blur', _WFLW.format('_blur'))],
    'Face300WDataset': [('common', _300W.format('valid_common')),
                        ('challenge', _300W.format('valid_challenge')),
                        ('full', _300W.format('valid')),
                        ('test', _300W.format('test'))],
    'COFWDataset': [('test', 'annotations/cofw_test.json')],
    'AFLWDataset': [('full', 'annotations/face_landmarks_aflw_test.json'),
                    ('frontal',
                     'annotations/face_landmarks_aflw_test_frontal.json')],
}


def build_parser():
    parser = ArgumentParser(
        description='NME, FR and AUC on every standard test split of a '
        'face dataset, with CED curves')
    parser.add_argument('config', help='the face model config')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('--data-root', help="the dataset folder; default: "
                        "the config's test_dataloader.dataset.data_root")
    parser.add_argument('--out-dir', help='where the table and the plot '
                        'go; default: work_dirs/face_eval/<config name>')
    parser.add_argument('--thr', type=number(float, 0.001, 1), default=0.1,
                        help='failure threshold and AUC limit on per-image '
                        'NME (default 0.1: FR@10, AUC@10)')
    add_cfg_options(
        parser, 'override settings of the config, as tools/test.py does')
    return parser


def tested_dataset(cfg):
    """The config of the one dataset ``test_dataloader`` reads."""
    leaves = list(leaf_datasets(cfg.test_dataloader.dataset))
    if len(leaves) != 1:
        raise UserError(f'test_dataloader.dataset combines {len(leaves)} '
                        'datasets; face_eval tests one dataset')
    return leaves[0]


def norm_args(evaluator):
    """The normalisation of the config's ``NME`` metric."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [
        evaluator]
    for metric in metrics:
        if metric.get('type') == 'NME':
            return {k: metric[k] for k in
                    ('norm_mode', 'norm_item', 'keypoint_indices')
                    if metric.get(k) is not None}
    raise UserError('the config has no NME in test_evaluator; face_eval '
                    'reports NME with the normalisation the config sets')


def split_files(ds_type, root):
    if ds_type not in SPLITS:
        raise UserError(f'face_eval knows the test splits of '
                        f'{", ".join(SPLITS)}, not of {ds_type}')
    splits = [(name, osp.join(root, rel)) for name, rel in SPLITS[ds_type]]
    for name, path in splits:
        check_regular_file(
            path, f'{name} split file', MAX_ANNOTATION_BYTES,
            f'get it as described in {DATA_PREP_DOC}, or point --data-root '
            'at the dataset')
    return splits


def split_configs(cfg, checkpoint, splits, thr):
    """[(split, config)]: the config testing each split file with the
    config's ``NME`` and a ``FailureRateAUC``, its data checked as
    tools/test.py checks it, before any split runs."""
    norm = norm_args(cfg.test_evaluator)
    configs = []
    for name, path in splits:
        split_cfg = copy.deepcopy(cfg)
        tested_dataset(split_cfg).ann_file = path
        split_cfg.test_evaluator = [
            dict(type='NME', **norm),
            dict(type='FailureRateAUC', thr=thr, **norm)]
        split_cfg.load_from = checkpoint
        check_run_data(split_cfg, ('test', ))
        configs.append((name, split_cfg))
    return configs


def evaluate(configs, checkpoint):
    """{split: (metrics, per-image NME)}, each split tested by MMEngine's
    runner as tools/test.py does."""
    from mmengine.runner import Runner

    results = {}
    stamp = time.strftime('%Y%m%d_%H%M%S')
    for i, (name, split_cfg) in enumerate(configs):
        # one logger per split: runners of the same second would share one
        split_cfg.experiment_name = f'face_eval_{name}_{stamp}'
        if i:
            # MMEngine logs the environment and the whole config at INFO for
            # every runner: once is enough; the line below is the progress.
            split_cfg.log_level = 'WARNING'
        runner = Runner.from_cfg(split_cfg)
        if not results:
            # the runner loads non-strictly: refuse another model's weights
            check_checkpoint_fits(runner.model, checkpoint)
        metrics = runner.test()
        check_finite_metrics(metrics, f'the {name} split')
        errors = runner.test_loop.evaluator.metrics[-1].errors
        results[name] = (metrics, errors)
        print(f'[{i + 1}/{len(configs)}] {name}: NME '
              f'{100 * float(metrics["NME"]):.2f}%', flush=True)
    return results


def table(results, thr):
    """Rows of the paper-style table: NME and FR in percent, AUC as is."""
    pct = f'{thr * 100:g}'
    rows = []
    for name, (metrics, errors) in results.items():
        rows.append({
            'split': name,
            'faces': int(len(errors)),
            'NME (%)': 100 * float(metrics['NME']),
            f'FR@{pct} (%)': 100 * float(metrics[f'FR@{pct}']),
            f'AUC@{pct}': float(metrics[f'AUC@{pct}']),
        })
    return rows


def write_markdown(path, rows, title):
    cols = list(rows[0])
    lines = [f'{title}', '', '| ' + ' | '.join(cols) + ' |',
             '| :-- | ' + ' | '.join(['--:'] * (len(cols) - 1)) + ' |']
    for row in rows:
        cells = [row['split'], str(row['faces'])] + [
            f'{row[c]:.2f}' if '%' in c else f'{row[c]:.4f}'
            for c in cols[2:]]
        lines.append('| ' + ' | '.join(cells) + ' |')
    write_text(path, '\n'.join(lines) + '\n')
    return lines


def plot_ced(path, results, thr, title):
    """Cumulative error distribution of every split, on [0, thr]."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (_, errors) in results.items():
        x = np.sort(np.asarray(errors)) * 100
        y = np.arange(1, len(x) + 1) / len(x)
        # a step function from (0, 0) to the end of the axis
        x = np.concatenate(([0.], x, [thr * 100]))
        y = np.concatenate(([0.], y, [y[-1] if len(y) else 0.]))
        ax.step(x, y, where='post', label=name)
    ax.set_xlim(0, thr * 100)
    ax.set_ylim(0, 1)
    ax.set_xlabel('NME (%)')
    ax.set_ylabel('fraction of faces')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    with atomic_path(path) as tmp:  # matplotlib picks PNG by the suffix
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


@cli_main
def main():
    enable_safe_loader()
    args = build_parser().parse_args()
    check_checkpoint_file(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options)
    ds = tested_dataset(cfg)
    root = args.data_root or ds.get('data_root', '')
    ds.data_root = root
    splits = split_files(ds.get('type'), root)
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = check_output_dir(
        args.out_dir or osp.join('work_dirs', 'face_eval', name), '--out-dir')
    outputs = [check_output_file(osp.join(out_dir, file), '--out-dir')
               for file in OUTPUTS]
    cfg.work_dir = out_dir
    # only the test loop runs (MMPose's test tool keeps the rest; MMEngine
    # builds it lazily either way)
    configs = split_configs(cfg, args.checkpoint, splits, args.thr)

    results = evaluate(configs, args.checkpoint)
    rows = table(results, args.thr)
    title = f'{name} on {ds.type.replace("Dataset", "")}'
    write_text(outputs[0], json.dumps(
        dict(config=args.config, checkpoint=args.checkpoint, thr=args.thr,
             splits=rows), indent=2))
    lines = write_markdown(outputs[1], rows, title)
    plot_ced(outputs[2], results, args.thr, title)
    print('\n'.join(lines))
    print(f'written to {out_dir}: {", ".join(OUTPUTS)}')


if __name__ == '__main__':
    sys.exit(main())
