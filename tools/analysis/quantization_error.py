"""Round-trip (quantization) error of keypoint codecs on an annotation file.

Every ground-truth instance is cropped to the codec input exactly as MMPose's
top-down pipeline does (``GetBBoxCenterScale`` + ``TopdownAffine``), encoded
into the codec's training targets, and decoded back. A perfect network would
output exactly those targets, so the remaining error is what the representation
alone costs. It is reported in the dataset's NME units (in percent, with the
normalization MMPose's ``NME`` metric uses for it), in input pixels, and as
signed bias per axis, for a sweep of heatmap sizes.

Example (the WFLW fixture, all preset codecs, 256 input)::

    python tools/analysis/quantization_error.py \
        --ann-file $HIH_FIXTURES/wflw/test_wflw.json \
        --dataset-type WFLWDataset --heatmap-sizes 64 32 16 8 \
        --out-dir docs/results/quantization
"""
import json
import os
import os.path as osp
import sys

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np
from mmengine.config import Config
from mmengine.utils import ProgressBar
from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine
from mmpose.evaluation.functional import keypoint_nme
from mmpose.evaluation.metrics import NME
from mmpose.registry import DATASETS

import hih_plugin  # noqa: F401  registers HIHHeatmap and H3RHeatmap
from hih_plugin.cli import ArgumentParser, cli_main, load_config, number
from hih_plugin.cli.checks.data import check_dataset_content
from hih_plugin.cli.outputs import atomic_path, check_output_dir, write_text
from hih_plugin.errors import UserError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
from codec_analysis import (  # noqa: E402  # isort:skip
    PRESETS, build_codec, load_codec_cfg, round_trip)

DEFAULT_CODECS = ['msra', 'dark', 'udp', 'simcc', 'hih', 'hih-expectation',
                  'h3r']


def parse_args():
    parser = ArgumentParser(
        description='Round-trip (quantization) error of keypoint codecs')
    parser.add_argument(
        '--codecs', nargs='+', default=DEFAULT_CODECS,
        help='preset names (' + ', '.join(PRESETS) + ') or python config '
        'files with a `codec` dict; default: %(default)s')
    parser.add_argument('--ann-file', help='COCO-style annotation file')
    parser.add_argument(
        '--dataset-type', default=None,
        help='MMPose dataset class that reads --ann-file, e.g. WFLWDataset, '
        'COFWDataset, Face300WDataset, AFLWDataset, CocoDataset')
    parser.add_argument(
        '--dataset-config',
        help='config whose test_dataloader.dataset gives the dataset type, '
        'data root and annotation file (--ann-file and --dataset-type '
        'override it)')
    parser.add_argument('--data-root', default='',
                        help='prefix for a relative --ann-file')
    parser.add_argument('--input-size', type=number(int, 8, 4096),
                        nargs=2, default=[256, 256],
                        metavar=('W', 'H'), help='codec input size')
    parser.add_argument(
        '--heatmap-sizes', type=number(int, 1, 1024), nargs='+', default=[64],
        help='heatmap widths to sweep (heights follow the input aspect '
        'ratio); SimCC gets as many bins per axis')
    parser.add_argument(
        '--norm-indices', type=number(int, 0, 10**4), nargs=2, default=None,
        help='keypoint pair whose GT distance normalizes NME (default: '
        "MMPose NME's pair for the dataset, else AFLW's box_size, else the "
        'bbox size)')
    parser.add_argument('--padding', type=number(float, 1, 4), default=1.25,
                        help='bbox padding of GetBBoxCenterScale')
    parser.add_argument('--max-instances', type=number(int, 1), default=None)
    parser.add_argument('--reference', default='msra',
                        help='codec label the ratio column is relative to')
    parser.add_argument('--out-dir', default='work_dirs/quantization_error',
                        help='where results.md, results.json, error_vs_'
                        'heatmap_size.png go')
    return parser.parse_args()


def build_dataset(args):
    ds_cfg = {}
    if args.dataset_config:
        cfg = load_config(args.dataset_config)
        ds_cfg = cfg.test_dataloader.dataset.to_dict()
        for key in ('pipeline', 'bbox_file', 'lazy_init'):
            ds_cfg.pop(key, None)
    if args.dataset_type:
        ds_cfg['type'] = args.dataset_type
    if args.ann_file:
        ds_cfg['ann_file'] = args.ann_file
        ds_cfg['data_root'] = args.data_root
    if 'type' not in ds_cfg or not ds_cfg.get('ann_file'):
        raise UserError('give --ann-file and --dataset-type (e.g. '
                        'WFLWDataset), or --dataset-config CONFIG')
    # Ground-truth boxes only: the codec error does not depend on detections.
    ds_cfg.update(pipeline=[], test_mode=True, data_mode='topdown')
    # the annotations are data, checked as tools/test.py checks them (the
    # images are not read)
    check_dataset_content(Config(dict(test_dataloader=dict(dataset=ds_cfg))),
                          ('test', ), images=False)
    try:
        return DATASETS.build(ds_cfg)
    except KeyError as err:
        raise UserError(f'cannot build dataset {ds_cfg["type"]}: {err}; '
                        'check --dataset-type') from err


def normalizer(info, dataset_name, norm_indices):
    """Per-instance NME normalizer in original image pixels, and its name.

    Follows MMPose's NME metric: a keypoint pair for faces, AFLW's
    ``box_size``, else ``bbox_size`` (the longer bbox side).
    """
    kpts = info['keypoints'][0]
    if norm_indices is None:
        norm_indices = NME.DEFAULT_KEYPOINT_INDICES.get(dataset_name)
    if norm_indices is not None:
        i, j = norm_indices
        return float(np.linalg.norm(kpts[i] - kpts[j])), \
            f'distance of keypoints {i} and {j}'
    if 'box_size' in info:
        return float(np.asarray(info['box_size']).ravel()[0]), 'box_size'
    bbox = info['bbox'][0]
    return float(np.max(bbox[2:] - bbox[:2])), 'bbox_size (longer side)'


def crop_instances(dataset, input_size, padding, norm_indices, limit,
                   use_udp=False):
    """Instances after MMPose's top-down crop to the codec input."""
    get_cs = GetBBoxCenterScale(padding=padding)
    affine = TopdownAffine(input_size=tuple(input_size), use_udp=use_udp)
    name = dataset.metainfo.get('dataset_name')
    items, norm_name = [], None
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for idx in range(n):
        info = dataset.get_data_info(idx)
        # The affine warps the image too; a 1x1 stand-in keeps that cheap,
        # since only the keypoints matter here.
        info['img'] = np.zeros((1, 1, 3), np.uint8)
        info = affine(get_cs(info))
        norm, norm_name = normalizer(info, name, norm_indices)
        items.append(
            dict(
                keypoints=info['keypoints'][..., :2].astype(np.float64),
                input_kpts=info['transformed_keypoints'][..., :2],
                visible=np.asarray(info['keypoints_visible'],
                                   np.float32).reshape(1, -1),
                center=np.asarray(info['input_center'], np.float64),
                scale=np.asarray(info['input_scale'], np.float64),
                norm=norm))
    return items, name, norm_name


def measure(codec, items, input_size, progress):
    preds, gts, masks, norms, diffs = [], [], [], [], []
    in_size = np.asarray(input_size, np.float64)
    for it in items:
        dec, kept = round_trip(codec, it['input_kpts'], it['visible'])
        mask = kept & (it['visible'] > 0)
        # Back to the original image as TopdownPoseEstimator does for its
        # predictions, then scored against the original annotation.
        pred = dec / in_size * it['scale'] + it['center'] - 0.5 * it['scale']
        # The same error in input pixels. Measured end to end rather than
        # against the cropped keypoints, because UDP's codec and crop use
        # their own pixel convention, which only cancels out end to end.
        diffs.append(((pred - it['keypoints']) * in_size / it['scale'])[mask])
        preds.append(pred)
        gts.append(it['keypoints'])
        masks.append(mask)
        norms.append([it['norm'], it['norm']])
        if progress is not None:
            progress.update()
    diff = np.concatenate(diffs) if diffs else np.zeros((0, 2))
    dist = np.linalg.norm(diff, axis=1)
    nme = keypoint_nme(
        np.concatenate(preds), np.concatenate(gts), np.concatenate(masks),
        np.asarray(norms)) if len(dist) else float('nan')
    return dict(
        nme_percent=100. * float(nme),
        err_px_mean=float(dist.mean()) if len(dist) else float('nan'),
        err_px_max=float(dist.max()) if len(dist) else float('nan'),
        bias_x_px=float(diff[:, 0].mean()) if len(dist) else float('nan'),
        bias_y_px=float(diff[:, 1].mean()) if len(dist) else float('nan'),
        n_keypoints=int(len(dist)))


def fmt(x):
    if x != x:  # NaN
        return 'n/a'
    if x == 0:
        return '0'
    return f'{x:.2e}' if abs(x) < 1e-3 else f'{x:.4f}'


def to_markdown(rows, meta, reference):
    lines = [
        f'Round-trip error on `{meta["ann_file"]}` ({meta["dataset_name"]}, '
        f'{meta["n_instances"]} instances), input '
        f'{meta["input_size"][0]}x{meta["input_size"][1]}; NME normalized '
        f'by {meta["normalization"]}. Errors are measured end to end, in '
        'the original image, and given in input pixels too; UDP gets '
        "MMPose's UDP crop (`TopdownAffine(use_udp=True)`), the rest the "
        'plain one.', '',
        f'| codec | heatmap | stride | NME (%) | mean err (input px) | '
        f'max err (input px) | bias x (px) | bias y (px) | x {reference} |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        ratio = r.get('ratio_to_reference')
        lines.append(
            f'| {r["codec"]} | {r["heatmap_size"][0]}x{r["heatmap_size"][1]}'
            f' | {r["stride"]:g} | {fmt(r["nme_percent"])} | '
            f'{fmt(r["err_px_mean"])} | {fmt(r["err_px_max"])} | '
            f'{fmt(r["bias_x_px"])} | {fmt(r["bias_y_px"])} | '
            f'{"n/a" if ratio is None else fmt(ratio)} |')
    return '\n'.join(lines) + '\n'


def plot(rows, labels, path, input_size):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    # Lossless codecs reach 0 error; a floor keeps them on the log axis.
    floor = 1e-7
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    # Distinct markers and dashes: codecs that coincide (SimCC with one bin
    # per cell rounds exactly like MSRA) stay visible.
    markers, dashes = 'os^vDx+*<>', ['-', '--', ':', '-.']
    for i, label in enumerate(labels):
        pts = sorted((r['heatmap_size'][0], r['err_px_mean']) for r in rows
                     if r['codec'] == label)
        ax.plot([p[0] for p in pts], [max(p[1], floor) for p in pts],
                marker=markers[i % len(markers)],
                linestyle=dashes[i % len(dashes)], label=label)
    sizes = sorted({r['heatmap_size'][0] for r in rows})
    ax.set_xscale('log', base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_yscale('log')
    ax.set_xlabel(f'heatmap width (input {input_size[0]}x{input_size[1]})')
    ax.set_ylabel(f'mean round-trip error (input px, floor {floor:g})')
    ax.set_title('Codec quantization error vs heatmap size')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:  # matplotlib picks PNG by the suffix
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


@cli_main
def main():
    args = parse_args()
    check_output_dir(args.out_dir, '--out-dir')
    dataset = build_dataset(args)
    try:
        codecs = [load_codec_cfg(c) for c in args.codecs]
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    w, h = args.input_size
    # MMPose pairs UDPHeatmap with TopdownAffine(use_udp=True); every other
    # codec with the plain affine.
    crops = {}
    for use_udp in {c[1]['type'] == 'UDPHeatmap' for c in codecs}:
        crops[use_udp], ds_name, norm_name = crop_instances(
            dataset, args.input_size, args.padding, args.norm_indices,
            args.max_instances, use_udp=use_udp)
    items = next(iter(crops.values()))
    if not items:
        raise UserError('the annotation file has no instances')

    total = len(items) * len(codecs) * len(args.heatmap_sizes)
    # Progress on stderr, so that stdout holds only the table.
    progress = ProgressBar(total, file=sys.stderr) if total >= 200 else None
    rows = []
    for hm_w in args.heatmap_sizes:
        hm_size = (hm_w, max(1, round(hm_w * h / w)))
        for label, cfg in codecs:
            try:
                codec = build_codec(cfg, args.input_size, hm_size)
            except ValueError as err:
                raise UserError(f'{label}: {err}') from err
            row = dict(codec=label, codec_cfg=cfg, heatmap_size=hm_size,
                       stride=w / hm_w)
            row.update(
                measure(codec, crops[cfg['type'] == 'UDPHeatmap'],
                        args.input_size, progress))
            rows.append(row)
    if progress is not None:
        sys.stderr.write('\n')
    for r in rows:
        ref = next((q for q in rows if q['codec'] == args.reference
                    and q['heatmap_size'] == r['heatmap_size']), None)
        if ref is not None and ref['err_px_mean'] > 0:
            r['ratio_to_reference'] = r['err_px_mean'] / ref['err_px_mean']

    meta = dict(
        ann_file=dataset.ann_file, dataset_name=ds_name,
        n_instances=len(items), input_size=[w, h],
        normalization=norm_name, padding=args.padding,
        command=' '.join(['python', osp.relpath(sys.argv[0])] + sys.argv[1:]))
    md = to_markdown(rows, meta, args.reference)
    print(md)
    write_text(osp.join(args.out_dir, 'results.md'), md)
    write_text(osp.join(args.out_dir, 'results.json'),
               json.dumps(dict(meta=meta, rows=rows), indent=1))
    plot(rows, [c[0] for c in codecs],
         osp.join(args.out_dir, 'error_vs_heatmap_size.png'),
         args.input_size)
    print(f'wrote {args.out_dir}/results.md, results.json, '
          'error_vs_heatmap_size.png')


if __name__ == '__main__':
    main()
