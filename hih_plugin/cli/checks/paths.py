"""Fail before the runner starts when a file the run opens is missing.

The leaf datasets of the config's dataloaders (:func:`leaf_datasets` looks
through dataset wrappers), their evaluators' files and the pretrained
weights are each checked, and a missing one is named in one line.
"""
import os
import os.path as osp

from mmengine.config import Config

from ...errors import DATA_PREP_DOC, UserError
from ..files import MAX_ANNOTATION_BYTES, check_regular_file


def leaf_datasets(dataset):
    """Yield the leaf dataset configs of a (possibly wrapped) dataset."""
    if dataset is None:
        return
    if 'datasets' in dataset:  # CombinedDataset / ConcatDataset
        for sub in dataset['datasets']:
            yield from leaf_datasets(sub)
    elif 'dataset' in dataset:  # RepeatDataset and other wrappers
        yield from leaf_datasets(dataset['dataset'])
    else:
        yield dataset


def split_datasets(cfg: Config, splits):
    """Yield ``(split, dataset config)`` for the leaf datasets of the
    dataloaders of ``splits`` that the config has."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader', None)
        if loader:
            for ds in leaf_datasets(loader.get('dataset')):
                yield split, ds


def check_dataset_paths(cfg: Config, splits) -> None:
    """Fail before the runner starts if a file the run opens is missing:
    a split's data root, annotation, detection-box and head-box files, its
    evaluator's files and, when training, the pretrained weights.

    Args:
        cfg: the merged config.
        splits: names of the dataloaders that will run, e.g.
            ``('train', 'val')``.
    """
    for split, ds in split_datasets(cfg, splits):
        root = ds.get('data_root', '') or ''
        if root and not osp.isdir(root):
            raise UserError(
                f'{split} data root not found: {root}. Prepare the '
                f'dataset as described in {DATA_PREP_DOC}, or point the '
                f'config at it with --cfg-options '
                f'{split}_dataloader.dataset.data_root=PATH')
        # MMEngine joins ann_file with data_root; MMPose reads the
        # detection and head-box files as given.
        files = [('ann_file', ds.get('ann_file'), True),
                 ('bbox_file', ds.get('bbox_file'), False),
                 ('headbox_file', ds.get('headbox_file'), False)]
        for key, name, under_root in files:
            if not name:
                continue
            path = osp.join(root, name) if under_root else name
            check_regular_file(
                path, f'{split} {key}', MAX_ANNOTATION_BYTES,
                f'prepare the dataset as described in {DATA_PREP_DOC}, or '
                f'set {split}_dataloader.dataset.{key}')
    for split in splits:
        check_evaluator_files(cfg, split)
    if 'train' in splits:
        check_pretrained(cfg)


def _evaluator_cfgs(evaluator):
    """Yield the metric configs of an evaluator config (dict or list)."""
    if not evaluator:
        return
    if isinstance(evaluator, dict):
        if 'metrics' in evaluator:  # dict(type='Evaluator', metrics=...)
            yield from _evaluator_cfgs(evaluator['metrics'])
        else:
            yield evaluator
    else:
        for metric in evaluator:
            yield from _evaluator_cfgs(metric)


def _metric_class(metric_cfg):
    from mmengine.registry import DefaultScope
    from mmpose.registry import METRICS
    metric_type = metric_cfg.get('type')
    if not isinstance(metric_type, str):
        return metric_type
    with DefaultScope.overwrite_default_scope('mmpose'):
        return METRICS.get(metric_type)


def _needs_head_boxes(metric_cfg) -> bool:
    """Whether a metric normalises by head size (PCKh), which MMPose takes
    from the dataset's ``headbox_file``."""
    import inspect

    from mmpose.evaluation.metrics import PCKAccuracy
    cls = _metric_class(metric_cfg)
    if not (inspect.isclass(cls) and issubclass(cls, PCKAccuracy)):
        return False
    norm_item = metric_cfg.get(
        'norm_item',
        inspect.signature(cls).parameters['norm_item'].default)
    if isinstance(norm_item, str):
        norm_item = [norm_item]
    return 'head' in norm_item


def check_evaluator_files(cfg: Config, split: str) -> None:
    """The files a split's evaluator opens: an ``ann_file`` (COCO's
    ``CocoMetric`` reads it as given), and the head boxes of PCKh."""
    evaluator = cfg.get(f'{split}_evaluator', None)
    loader = cfg.get(f'{split}_dataloader', None)
    if not evaluator or not loader:
        return
    datasets = list(leaf_datasets(loader.get('dataset')))
    for metric in _evaluator_cfgs(evaluator):
        ann_file = metric.get('ann_file')
        if ann_file and '://' not in ann_file:
            check_regular_file(
                ann_file, f'{split} evaluator {metric.get("type")} ann_file',
                MAX_ANNOTATION_BYTES, f'prepare the dataset as described in '
                f'{DATA_PREP_DOC}, or set {split}_evaluator.ann_file=PATH')
        if _needs_head_boxes(metric) and not all(
                ds.get('headbox_file') for ds in datasets):
            raise UserError(
                f'{split} evaluator {metric.get("type")} computes PCKh, but '
                f'{split}_dataloader.dataset has no headbox_file; set '
                f'{split}_dataloader.dataset.headbox_file to MPII\'s '
                f'mpii_gt_val.mat as described in {DATA_PREP_DOC}')


def _pretrained_inits(node, key='model'):
    """Yield (config key, checkpoint) of every ``Pretrained`` init_cfg."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        for item in init if isinstance(init, (list, tuple)) else [init]:
            if isinstance(item, dict) and item.get('type') == 'Pretrained' \
                    and isinstance(item.get('checkpoint'), str):
                yield f'{key}.init_cfg', item['checkpoint']
        for name, value in node.items():
            yield from _pretrained_inits(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _pretrained_inits(value, f'{key}.{i}')


def resolve_pretrained(source: str):
    """Where MMEngine's ``CheckpointLoader`` reads a ``Pretrained`` source.

    Returns:
        tuple: ``(path, url)``: the local file the run will read (for a
        remote source, its copy in torch hub's ``checkpoints`` folder, the
        cache MMEngine downloads into) and the URL it is downloaded from,
        None for a local file. ``(None, None)`` for a storage backend
        (``s3://`` and the like), which only the run can reach.
    """
    from urllib.parse import urlparse

    import torch.hub
    from mmengine.runner import checkpoint as ckpt
    url = None
    if source.startswith(('open-mmlab://', 'openmmlab://')):
        name = source.split('://', 1)[1]
        name = ckpt.get_deprecated_model_names().get(name, name)
        url = ckpt.get_external_models().get(name)
        if url is None:
            raise UserError(f'unknown pretrained model {source}: it is not '
                            "in MMEngine's open-mmlab:// table")
        if not url.startswith(('http://', 'https://')):
            return osp.join(ckpt._get_mmengine_home(), url), None
    elif source.startswith(('torchvision://', 'modelzoo://', 'mmcls://')):
        scheme, name = source.split('://', 1)
        table = (ckpt.get_mmcls_models() if scheme == 'mmcls' else
                 ckpt.get_torchvision_models())
        url = table.get(name)
        if url is None:
            raise UserError(f'unknown pretrained model {source}: it is not '
                            f"in MMEngine's {scheme}:// table")
    elif source.startswith(('http://', 'https://')):
        url = source
    elif '://' in source:
        return None, None
    if url is None:
        return source, None
    name = osp.basename(urlparse(url).path)
    return osp.join(torch.hub.get_dir(), 'checkpoints', name), url


def check_pretrained(cfg: Config) -> None:
    """Every ``Pretrained`` init of the model can be read.

    A local file must exist. A remote one is looked up in the download
    cache and, when absent, downloaded there now, as the runner would do
    when it initialises the model: a machine without network then stops
    here with one line instead of a traceback from the runner.
    """
    import urllib.error

    import torch.hub
    for key, source in dict.fromkeys(_pretrained_inits(cfg.get('model'))):
        path, url = resolve_pretrained(source)
        if path is None or osp.isfile(path):
            continue
        fixes = (f'set {key}.checkpoint to a local copy of the weights, or '
                 f'{key}=None to train from scratch (both with '
                 '--cfg-options)')
        if url is None:
            raise UserError(f'pretrained weights not found: {path} '
                            f'({key}); {fixes}')
        if os.environ.get('LOCAL_RANK', '0') != '0':
            continue  # local rank 0 downloads, the runner waits for it
        os.makedirs(osp.dirname(path), exist_ok=True)
        print(f'Downloading the pretrained weights {source} to {path}')
        try:
            torch.hub.download_url_to_file(url, path, progress=False)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, 'reason', err)
            raise UserError(
                f'cannot download the pretrained weights {source} of {key} '
                f'({reason}) into {path}; put the file there, or {fixes}')
