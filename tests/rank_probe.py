"""Test-only probe for the distributed test, imported by its config through
``custom_imports``: a local file backend that records which rank writes
which file, so the test can tell that only rank 0 saved checkpoints."""
from mmengine.dist import get_rank
from mmengine.fileio import LocalBackend, register_backend


@register_backend('rank_recording')
class RankRecordingBackend(LocalBackend):
    """:class:`LocalBackend` that appends ``<rank> <path>`` to
    ``record_file`` for every file it writes."""

    def __init__(self, record_file, **kwargs):
        super().__init__(**kwargs)
        self.record_file = record_file

    def put(self, obj, filepath):
        with open(self.record_file, 'a') as f:
            f.write(f'{get_rank()} {filepath}\n')
        super().put(obj, filepath)
