"""The entry point wrapper of ``tools/*.py``.

Errors a user can fix (a wrong path, a bad config, a refused checkpoint) are
raised as :class:`~hih_plugin.errors.UserError` and printed as one line
naming the problem and the fix, with exit status 2, instead of a traceback
from deep inside the runner.
"""
import functools
import pickle
import re
import sys

from ..checkpoint import torch_refusal
from ..errors import UserError


def one_line(err: UserError) -> str:
    """The message of a user error, in one line.

    A UserError raised in a DataLoader worker (an image refused at load
    time) comes back re-raised with the worker's traceback as its message;
    our message is the last line, after the exception's name.
    """
    text = str(err).strip()
    if '\n' in text:
        text = text.splitlines()[-1]
        text = re.sub(r'^[\w.]*Error: ', '', text)
    return text


def cli_main(main):
    """Run ``main`` and turn user errors into a one-line message and exit 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f'error: {one_line(err)}', file=sys.stderr)
            sys.exit(2)
        except pickle.UnpicklingError as err:
            # a torch.load outside hih_plugin.checkpoint.load_file
            # refused a file: name the cause, without torch's advice to
            # turn weights_only off.
            print(f'error: refused to load the checkpoint: '
                  f'{torch_refusal(err)}; only load checkpoints from sources '
                  'you trust', file=sys.stderr)
            sys.exit(2)

    return wrapper
