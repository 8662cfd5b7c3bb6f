"""MMEngine's runner, reading checkpoints as data only."""
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


@RUNNERS.register_module()
class DataOnlyRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner`, whose checkpoints never
    bring code with them.

    ``Runner.resume`` passes a checkpoint's ``meta['config']`` to
    ``Config.fromstring(..., '.py')``, which executes it, only to compare
    the number of GPUs the run had. A checkpoint is data (our loader reads
    no pickled code, docs/checkpoints.md), and a config comes from the
    command line, never from a checkpoint: this runner drops that text from
    every checkpoint it loads. ``tools/train.py`` builds it; a config can
    name it with ``runner_type='DataOnlyRunner'``.
    """

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):
        checkpoint = super().load_checkpoint(
            filename, map_location=map_location, strict=strict,
            revise_keys=revise_keys)
        meta = checkpoint.get('meta')
        if isinstance(meta, dict):
            meta.pop('config', None)
        return checkpoint
