"""The errors a user can fix, shared by the library and the tools.

The tools print them as one line naming the problem and the fix, and exit
with status 2 (:func:`hih_plugin.cli.cli_main`); inside a run they stop
MMEngine's runner with that same line. This module imports nothing of
ours, so every layer may import it.
"""

# Where error messages about missing or malformed data send the user.
DATA_PREP_DOC = 'docs/training.md, section "Data preparation"'


class UserError(Exception):
    """An error the user can fix; reported in one line, without traceback."""


class CheckpointError(UserError):
    """A checkpoint refused as unsafe or unreadable; the message is one
    line naming the cause."""

    def __init__(self, msg) -> None:
        # the cause may quote file content (a tensor's repr spans lines)
        super().__init__(' '.join(str(msg).split()))
