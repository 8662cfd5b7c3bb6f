"""MMEngine's runner, reading checkpoints as data only."""
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


@RUNNERS.register_module()
class DataOnlyRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner`, whose checkpoints never
    bring code with them.

    ``Runner.resume`` passes a checkpoint's ``meta['config']`` to
    ``Config.fromstring(..., '.py')``, which executes it, only to compare
    the number of GPUs the run had. It also loads the checkpoint's
    ``message_hub`` over the run's own, whose ``cfg`` (the config text)
    every later checkpoint then carries, and which MMEngine's inferencer
    executes when it is given weights without a config. A checkpoint is
    data (our loader reads no pickled code, docs/checkpoints.md), and a
    config comes from the command line, never from a checkpoint: this
    runner drops both texts from every checkpoint it loads.

    ``tools/train.py`` builds it. Tools that build their runner with
    ``RUNNERS.build(cfg)`` take it from ``runner_type='DataOnlyRunner'``;
    MMPose's own ``tools/train.py`` (``mim train``) always builds
    MMEngine's ``Runner``.
    """

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):
        checkpoint = super().load_checkpoint(
            filename, map_location=map_location, strict=strict,
            revise_keys=revise_keys)
        meta = checkpoint.get('meta')
        if isinstance(meta, dict):
            meta.pop('config', None)
        hub = checkpoint.get('message_hub')
        info = hub.get('runtime_info') if isinstance(hub, dict) else None
        if isinstance(info, dict):
            info.pop('cfg', None)  # the run keeps its own, from before_run
        return checkpoint
