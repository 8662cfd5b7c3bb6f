"""Prepare a trained model for the model zoo, as MMPose's publish tool does.

Given a config, its checkpoint and the metrics JSON that
``tools/test.py CONFIG CKPT --out metrics.json`` wrote, this

- strips the checkpoint to ``meta`` and ``state_dict`` (no optimizer, message
  hub or scheduler state) and saves it as
  ``<name>-<sha256[:8]>_<YYYYMMDD>.pth``, as MMPose's publish tool names it;
- writes the model-zoo metafile ``<name>.yml`` (Collections with README,
  Models, Results, Weights) and the results section ``<name>.md`` in the
  layout of MMPose's model zoo: the config relative to the repository, NME
  and failure rates in percent, AP, AR, PCK and AUC as fractions;
- with ``--project``, a ``projects/<name>/README.md`` in the layout of
  MMPose's ``projects/`` (Description, Usage, Results, Citation, Checklist).

Every number it publishes is read from the metrics JSON; a metric that is
not in that file is refused, so the zoo never shows a number nobody measured.
A metric that is not a finite number of magnitude at most ``MAX_METRIC`` is
refused too, naming its key. ``--name`` must be a plain file stem, and every
file is written inside ``--out-dir`` (through a new temporary file that is
then renamed, so a symbolic link planted there is replaced, not followed).
"""
import hashlib
import math
import os
import os.path as osp
import re
import sys
from datetime import date

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import torch
import yaml
from mmengine.registry import init_default_scope

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (ArgumentParser, add_cfg_options, cli_main,
                            load_config, number)
from hih_plugin.cli.checks import leaf_datasets
from hih_plugin.cli.checks.meta import checked_meta
from hih_plugin.cli.checks.model import check_checkpoint_fits
from hih_plugin.cli.files import MAX_METRICS_BYTES, load_json
from hih_plugin.cli.outputs import new_file, write_text
from hih_plugin.errors import UserError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# The largest magnitude a published metric may have. Pose metrics are
# fractions, percentages or counts of images; anything larger (1e308, say)
# is a broken or crafted metrics file, not a measurement.
MAX_METRIC = 1e6

# A model name is a plain file stem: it names files inside --out-dir.
NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,127}')

# Metrics MMPose's zoo lists in percent (NME, and the failure rate that goes
# with it); everything else (AP, AR, PCK, AUC) as the fraction measured.
PERCENT = re.compile(r'(.*/)?(NME|FR@[^/]*)$', re.IGNORECASE)

# Papers of the methods this plugin adds, keyed by codec type, for the
# metafile's Collections entry. Other codecs need --collection/--paper-*.
PAPERS = {
    'HIHHeatmap': ('HIH', 'HIH: Towards More Accurate Face Alignment via '
                   'Heatmap in Heatmap', 'https://arxiv.org/abs/2104.03100'),
    'H3RHeatmap': ('H3R', 'Heatmap Regression via Randomized Rounding',
                   'https://arxiv.org/abs/2009.00225'),
}

# MMPose's dataset class -> the dataset name its model zoo uses.
DATASET_NAMES = {
    'CocoDataset': 'COCO',
    'MpiiDataset': 'MPII',
    'WFLWDataset': 'WFLW',
    'Face300WDataset': '300W',
    'COFWDataset': 'COFW',
    'AFLWDataset': 'AFLW',
}

# mmpose.datasets.datasets.<folder> -> the model zoo's task name.
TASKS = {
    'face': 'Face 2D Keypoint',
    'body': 'Body 2D Keypoint',
    'hand': 'Hand 2D Keypoint',
    'animal': 'Animal 2D Keypoint',
    'wholebody': 'Wholebody 2D Keypoint',
    'fashion': 'Fashion 2D Keypoint',
}


def build_parser():
    parser = ArgumentParser(
        description='Strip a checkpoint for release and write its model-zoo '
        'metafile (.yml) and results table (.md)')
    parser.add_argument('config', help='the config the model was trained '
                        'with')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('metrics', help='metrics JSON written by '
                        'tools/test.py --out')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the .pth, .yml and .md files')
    parser.add_argument(
        '--metrics', dest='metric_names', nargs='+', metavar='KEY[=NAME]',
        help='metrics to publish, as keys of the metrics JSON, optionally '
        'renamed for the zoo (e.g. "coco/AP=AP"); default: all keys')
    parser.add_argument('--name', help='model name; default: the config '
                        'file name without .py')
    parser.add_argument('--collection', help='collection (method) name; '
                        'default from the codec: HIH or H3R')
    parser.add_argument('--paper-title', help='paper of the collection')
    parser.add_argument('--paper-url', help='URL of that paper')
    parser.add_argument('--architecture', nargs='+',
                        help='architecture tags; default: the collection, '
                        'backbone and head types')
    parser.add_argument('--dataset', help='dataset name; default from the '
                        "config's dataset type")
    parser.add_argument('--task', help='task name, e.g. "Face 2D Keypoint"; '
                        "default from the config's dataset")
    parser.add_argument('--weights-url', default='',
                        help='URL prefix the .pth will be served from, or '
                        'its folder in the repository (e.g. model_zoo/x/); '
                        'the metafile links <prefix><file name>')
    parser.add_argument('--log-url', help='link to the training log, shown '
                        'in the .md table')
    parser.add_argument('--digits', type=number(int, 0, 12), default=4,
                        help='decimals of the published numbers')
    parser.add_argument('--zoo-config',
                        help='the config path the zoo lists, relative to the '
                        'repository root; default: CONFIG relative to this '
                        'project, which it must then be inside')
    parser.add_argument('--readme',
                        help="the Collection's README, relative to the .yml "
                        'or a URL; default: the project README written by '
                        '--project, else the <name>.md results page')
    parser.add_argument('--project', action='store_true',
                        help='also write projects/<name>/README.md in the '
                        "layout of MMPose's projects/, for a pull request")
    add_cfg_options(
        parser, 'override settings of the config, as tools/train.py does: '
        'pass the same overrides the model was trained with')
    parser.add_argument(
        '--save-keys', nargs='+', default=['meta', 'state_dict'],
        help='checkpoint entries to keep (default: meta state_dict)')
    return parser


def select_metrics(metrics_file, names, digits):
    """(zoo name, value) pairs, every value taken from the metrics JSON."""
    metrics = load_json(metrics_file, 'metrics file', MAX_METRICS_BYTES,
                        'pass the JSON file that tools/test.py CONFIG CKPT '
                        '--out FILE wrote')
    if not isinstance(metrics, dict) or not metrics:
        raise UserError(f'{metrics_file} holds no metrics (expected a JSON '
                        'object of name: number, as tools/test.py --out '
                        'writes)')
    pairs = []
    for item in names or list(metrics):
        key, _, shown = item.partition('=')
        pairs.append((key, shown or key))
    absent = [key for key, _ in pairs if key not in metrics]
    if absent:
        raise UserError(
            f'metric(s) {", ".join(absent)} not in {metrics_file}, which has '
            f'{", ".join(metrics)}; publish only measured metrics: pick '
            '--metrics from those keys')
    result = []
    for key, shown in pairs:
        value = metrics[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f'metric {key} in {metrics_file} is not a number '
                            f'(a {type(value).__name__}); leave it out of '
                            '--metrics')
        if not math.isfinite(value) or abs(value) > MAX_METRIC:
            raise UserError(f'metric {key} in {metrics_file} is {value:g}, '
                            'not a finite number of magnitude at most '
                            f'{MAX_METRIC:g}; re-run tools/test.py, or '
                            'leave it out of --metrics')
        if not shown.isprintable() or '|' in shown:
            raise UserError(f'--metrics name {shown!r} holds a control '
                            "character or '|'; name it in plain text")
        scale = 100 if PERCENT.match(key) else 1
        result.append((shown, round(float(value) * scale, digits)))
    return result


def strip_and_save(ckpt, save_keys, out_dir, name):
    """Save the kept entries as ``<name>-<sha256[:8]>_<YYYYMMDD>.pth``, the
    name MMPose's publish tool gives; return its path."""
    dropped = sorted(k for k in ckpt if k not in save_keys)
    stripped = {k: v for k, v in ckpt.items() if k in save_keys}
    if dropped:
        print(f'dropping checkpoint entries: {", ".join(dropped)}')
    with new_file(out_dir, 'wb') as (f, tmp):
        torch.save(stripped, f)
    sha = hashlib.sha256()
    with open(tmp, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            sha.update(block)
    today = date.today().strftime('%Y%m%d')
    final = osp.join(out_dir, f'{name}-{sha.hexdigest()[:8]}_{today}.pth')
    os.replace(tmp, final)
    return final


def model_facts(cfg, args):
    """Collection, paper, architecture, dataset, task and input size."""
    from mmpose.registry import DATASETS

    head = cfg.model.get('head', {})
    codec = head.get('decoder') or cfg.get('codec') or {}
    default = PAPERS.get(codec.get('type'), (None, None, None))
    collection = args.collection or default[0]
    if collection is None:
        raise UserError(
            f'cannot tell the method of codec {codec.get("type")}; name it '
            'with --collection (and --paper-title, --paper-url)')
    same = collection == default[0]
    paper = dict(Title=args.paper_title or (default[1] if same else None),
                 URL=args.paper_url or (default[2] if same else None))
    paper = {k: v for k, v in paper.items() if v}

    architecture = args.architecture or list(dict.fromkeys(
        t for t in (collection, cfg.model.backbone.get('type'),
                    head.get('type')) if t))

    ds_cfg = next(leaf_datasets(cfg.test_dataloader.dataset))
    ds_type = ds_cfg.get('type', '')
    dataset = args.dataset or DATASET_NAMES.get(
        ds_type, ds_type.replace('Dataset', ''))
    task = args.task
    if task is None:
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        cls = DATASETS.get(ds_type)
        folder = cls.__module__.split('datasets.')[-1].split('.')[0] \
            if cls is not None else ''
        task = TASKS.get(folder)
        if task is None:
            raise UserError(f'cannot tell the task of dataset {ds_type}; '
                            'name it with --task')
    w, h = codec.get('input_size', (None, None))
    input_size = f'{h}x{w}' if w else ''
    return dict(collection=collection, paper=paper,
                architecture=architecture, dataset=dataset, task=task,
                input_size=input_size)


def write_metafile(path, facts, name, config, metrics, weights, readme):
    collection = dict(Name=facts['collection'])
    if facts['paper']:
        collection['Paper'] = facts['paper']
    collection['README'] = readme
    meta = {
        'Collections': [collection],
        'Models': [{
            'Config': config,
            'In Collection': facts['collection'],
            'Metadata': {
                'Architecture': facts['architecture'],
                'Training Data': facts['dataset'],
            },
            'Name': name,
            'Results': [{
                'Dataset': facts['dataset'],
                'Metrics': dict(metrics),
                'Task': facts['task'],
            }],
            'Weights': weights,
        }],
    }
    write_text(path, yaml.safe_dump(meta, sort_keys=False))


def results_table(facts, name, config, metrics, weights, log_url):
    """The results table of MMPose's model-zoo pages."""
    cols = ['Arch', 'Input Size', *[m for m, _ in metrics], 'ckpt']
    row = [f'[{name}](/{config})', facts['input_size'],
           *[str(v) for _, v in metrics], f'[ckpt]({weights})']
    if log_url:
        cols.append('log')
        row.append(f'[log]({log_url})')
    return [
        '| ' + ' | '.join(cols) + ' |',
        '| :-- | ' + ' | '.join([':--:'] * (len(cols) - 1)) + ' |',
        '| ' + ' | '.join(row) + ' |',
    ]


def paper_details(facts):
    paper = facts['paper']
    title = paper.get('Title', facts['collection'])
    link = (f'<a href="{paper["URL"]}">{title}</a>' if 'URL' in paper else
            title)
    return ['<details>', f'<summary align="right">{link}</summary>', '',
            '</details>']


def write_table(path, facts, name, config, metrics, weights, log_url):
    """A model-zoo page section, as MMPose's ``configs/**/<model>.md``."""
    lines = [
        '<!-- [ALGORITHM] -->', '', *paper_details(facts), '',
        f'Results on {facts["dataset"]} dataset', '',
        f'The model is trained on {facts["dataset"]} train.', '',
        *results_table(facts, name, config, metrics, weights, log_url), ''
    ]
    write_text(path, '\n'.join(lines))


def write_project_readme(path, facts, name, config, metrics, weights,
                         log_url):
    """``projects/<name>/README.md`` with the sections of MMPose's
    project template; the parts only the author can write are marked."""
    title = facts['paper'].get('Title', facts['collection'])
    url = facts['paper'].get('URL', '')
    lines = [
        f'# {name}', '',
        '## Description', '',
        f'An implementation of [{title}]({url}) as MMPose modules '
        f'({", ".join(facts["architecture"])}), registered into MMPose\'s '
        'registries and configured by the config below.', '',
        '## Usage', '',
        '### Prerequisites', '',
        '- MMPose 1.x, MMEngine and MMCV 2.x, and MIM', '',
        '### Data Preparation', '',
        f'Prepare {facts["dataset"]} as described in MMPose\'s dataset zoo '
        '(`dataset_zoo/`).', '',
        '### Training commands', '',
        '```shell', f'mim train mmpose {config}', '```', '',
        '### Testing commands', '',
        '```shell', f'mim test mmpose {config} --checkpoint $CHECKPOINT',
        '```', '',
        '## Results', '',
        f'Results on {facts["dataset"]}, measured with `tools/test.py` on '
        'the weights below, trained with this project (not converted from '
        'another release).', '',
        *results_table(facts, name, config, metrics, weights, log_url), '',
        '## Citation', '',
        '<!-- the BibTeX entry of the paper -->', '',
        '## Checklist', '',
        '- [ ] Milestone 1: PR-ready, and acceptable to be one of the '
        '`projects/`.',
        '  - [ ] Finish the code', '  - [ ] Basic docstrings & proper '
        'citation', '  - [ ] Test-time correctness', '  - [ ] A full README',
        '- [ ] Milestone 2: Indicates a successful model implementation.',
        '  - [ ] Training-time correctness',
        '- [ ] Milestone 3: Good to be a part of our core package!',
        '  - [ ] Type hints and docstrings', '  - [ ] Unit tests',
        '  - [ ] Code polishing', '  - [ ] Metafile.yml', '',
    ]
    write_text(path, '\n'.join(lines))


def zoo_config(path, zoo_path=None):
    """The config as the zoo lists it: relative to the repository root."""
    if zoo_path:
        if osp.isabs(zoo_path) or zoo_path.startswith('..'):
            raise UserError(f'--zoo-config must be relative to the '
                            f'repository root, got {zoo_path}')
        return zoo_path.replace(os.sep, '/')
    rel = osp.relpath(osp.abspath(path), ROOT)
    if rel.startswith('..'):
        raise UserError(
            f'{path} is outside this project ({ROOT}), so the zoo cannot '
            'link it; copy it under configs/, or name its path in the '
            'repository with --zoo-config')
    return rel.replace(os.sep, '/')


def model_name(args):
    """``--name``, or the config's file stem; a plain file stem either
    way."""
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    if not NAME.fullmatch(name) or name.endswith('.'):
        raise UserError(
            f'model name {name!r} is not a plain file stem (letters, digits '
            "and . _ + -, starting with a letter or digit, at most 128); "
            'it names the files written in --out-dir: pass --name NAME')
    return name


def make_out_dir(out_dir, project_dir=None):
    """Create ``--out-dir`` (and ``projects/<name>`` inside it); refuse a
    path that is a file, or a folder that resolves outside it."""
    for path in filter(None, (out_dir, project_dir)):
        if osp.lexists(path) and not osp.isdir(path):
            raise UserError(f'--out-dir {out_dir}: {path} exists and is not '
                            'a folder; pass a folder (it is created if '
                            'missing)')
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as err:
            raise UserError(f'cannot create {path} for --out-dir '
                            f'({err.strerror}); pass a folder you can write')
    if project_dir:
        top = osp.realpath(out_dir)
        if osp.commonpath([top, osp.realpath(project_dir)]) != top:
            raise UserError(f'{project_dir} resolves outside --out-dir '
                            f'{out_dir} (a symbolic link); remove it')


@cli_main
def main():
    enable_safe_loader()
    args = build_parser().parse_args()
    name = model_name(args)
    metrics = select_metrics(args.metrics, args.metric_names, args.digits)
    project = f'projects/{name}/README.md'
    make_out_dir(args.out_dir, args.project and osp.join(
        args.out_dir, osp.dirname(project)))
    cfg = load_config(args.config, args.cfg_options)
    config = zoo_config(args.config, args.zoo_config)
    facts = model_facts(cfg, args)

    from mmpose.apis import init_model

    # Refuse a checkpoint of another model: its numbers would be published
    # under this config's name.
    model = init_model(cfg, None, device='cpu')
    ckpt = check_checkpoint_fits(model, args.checkpoint)
    dataset_meta = checked_meta(ckpt, model.dataset_meta['num_keypoints'],
                                args.checkpoint)
    if dataset_meta is not None:
        ckpt['meta'] = dict(ckpt['meta'], dataset_meta=dataset_meta)
    pth = strip_and_save(ckpt, args.save_keys, args.out_dir, name)
    weights = args.weights_url + osp.basename(pth)
    readme = args.readme or (project if args.project else f'{name}.md')
    yml = osp.join(args.out_dir, f'{name}.yml')
    md = osp.join(args.out_dir, f'{name}.md')
    write_metafile(yml, facts, name, config, metrics, weights, readme)
    # a folder of the repository: linked from the repository's root, as the
    # config is, so that the link works from the page
    link = weights if not args.weights_url or re.match(
        r'[a-z]+://', weights) else '/' + weights
    write_table(md, facts, name, config, metrics, link, args.log_url)
    written = [pth, yml, md]
    if args.project:
        written.append(osp.join(args.out_dir, project))
        write_project_readme(written[-1], facts, name, config, metrics,
                             link, args.log_url)
    for path in written:
        print(path)


if __name__ == '__main__':
    sys.exit(main())
