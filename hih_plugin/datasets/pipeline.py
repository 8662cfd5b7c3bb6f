"""A config helper: a stock MMPose pipeline with our loader and codec."""


def checked_pipeline(pipeline, encoder=None):
    """``pipeline`` with ``LoadCheckedImage`` in place of each ``LoadImage``
    and, given ``encoder``, each ``GenerateTarget`` encoding with it.

    For a config that inherits a stock MMPose config: the base built its
    pipelines from its own ``codec`` when it was read, and its dataloaders
    hold copies of them, so a config with a new codec rewrites the
    pipelines and hands them to the dataloaders again::

        _base_ = ['mmpose::face_2d_keypoint/...']
        from hih_plugin.datasets import checked_pipeline  # noqa: E402

        train_pipeline = checked_pipeline(_base_.train_pipeline, codec)
        train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

    The import goes after ``_base_``: MMEngine reads a config that opens
    with an import of a non-builtin module as a lazy-import (``read_base``)
    config. MMEngine leaves imported functions out of the config, so
    ``cfg.dump()`` writes plain dicts.

    Args:
        pipeline (list[dict]): the transforms, e.g.
            ``_base_.train_pipeline``; not modified.
        encoder (dict, optional): the codec ``GenerateTarget`` encodes
            with; None keeps each step's own.

    Returns:
        list[dict]: a new list; the other steps are those of ``pipeline``.
    """
    steps = []
    for step in pipeline:
        if step['type'] == 'LoadImage':
            step = _rewritten(step, type='LoadCheckedImage')
        elif step['type'] == 'GenerateTarget' and encoder is not None:
            step = _rewritten(step, encoder=encoder)
        steps.append(step)
    return steps


def _rewritten(step, **changes):
    """A new dict: ``step``'s arguments with ``changes``, as if written in
    the config itself, so without the ``_scope_`` MMEngine gives the dicts
    of a base in another scope."""
    args = {key: value for key, value in step.items() if key != '_scope_'}
    return dict(args, **changes)
