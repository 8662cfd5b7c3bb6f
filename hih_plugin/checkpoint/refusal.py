"""How the loader refuses a file: one line, quoting content briefly."""
from collections import Counter, OrderedDict

import numpy as np
import torch

from ..errors import CheckpointError


def refuse(msg):
    raise CheckpointError(msg)


def brief(obj, depth=2):
    """A short, bounded description of unpickled content for a refusal.

    Never ``repr`` of the whole object: a list built from memo references
    can be tiny in the file and gigabytes as text.
    """
    if isinstance(obj, (str, bytes)):
        text = repr(obj[:40])
        return text + ('...' if len(obj) > 40 else '')
    if isinstance(obj, (bool, float, complex, type(None))):
        return repr(obj)
    if isinstance(obj, int):
        # str() of a huge int is quadratic; its size says enough
        return str(obj) if obj.bit_length() < 64 else 'a huge int'
    if type(obj) in (tuple, list) and depth:
        inner = ', '.join(brief(item, depth - 1) for item in obj[:4])
        more = ', ...' if len(obj) > 4 else ''
        return ('(%s%s)' if type(obj) is tuple else '[%s%s]') % (inner, more)
    shape = getattr(obj, 'shape', None)
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return f'a {type(obj).__name__} of shape {tuple(shape)}'
    size = f' of {len(obj)} items' if type(obj) in (
        tuple, list, dict, OrderedDict, Counter) else ''
    return f'a {type(obj).__name__}{size}'
