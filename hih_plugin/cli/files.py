"""Files a tool reads: regular files of bounded size, never a hang.

Every file a tool is handed or finds (annotations, metrics, logs, a work
dir's ``last_checkpoint``, checkpoints) is data. Before it is read, or
handed to a library that reads it, :func:`check_regular_file` makes sure it
is a regular file no larger than a limit of its kind: a FIFO would block the
reader forever, ``/dev/zero`` would fill the memory, and a directory or a
socket would end in a traceback. :func:`read_bounded` and :func:`load_json`
read such a file themselves, opening it without blocking (``O_NONBLOCK``) and
checking what was opened, so a file swapped for a FIFO after the check is
refused too.
"""
import json
import os
import stat

from ..errors import UserError

MiB = 1 << 20
GiB = 1 << 30
# Limits by kind of file, far above real data: COCO's keypoint annotations
# (the largest MMPose reads) are a fraction of the annotation limit; a
# metrics file of tools/test.py --out is a few hundred bytes; a training log
# grows with the iterations logged; a checkpoint with its optimizer state is
# about three times its weights.
MAX_ANNOTATION_BYTES = 2 * GiB
MAX_METRICS_BYTES = 1 * MiB
MAX_LOG_BYTES = 1 * GiB
MAX_CHECKPOINT_BYTES = 16 * GiB
MAX_IMAGE_BYTES = 1 * GiB  # 100 megapixels (the pixel limit), uncompressed
MAX_POINTER_BYTES = 4096  # a work dir's last_checkpoint: one path


def _size(num: int) -> str:
    for unit, scale in (('GiB', GiB), ('MiB', MiB), ('KiB', 1024)):
        if num >= scale:
            return f'{num / scale:.3g} {unit}'
    return f'{num} bytes'


def _problem(mode: int, size: int, max_bytes: int):
    """Why a file of ``mode`` and ``size`` cannot be read, or None."""
    if stat.S_ISDIR(mode):
        return 'is a directory, not a file'
    if not stat.S_ISREG(mode):
        return ('is not a regular file (a FIFO, device or socket), which '
                'could block or never end')
    if size > max_bytes:
        return (f'is {_size(size)}, more than the {_size(max_bytes)} such a '
                'file may have')
    return None


def check_regular_file(path: str, what: str, max_bytes: int,
                       fix: str = '') -> int:
    """The size of ``path``, or a one-line UserError naming ``what`` and
    ``fix`` if it is missing, not a regular file, or larger than
    ``max_bytes``. It is not opened (opening a FIFO blocks)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f'{what} not found: {path}{fix and "; " + fix}'
                        ) from None
    except OSError as err:
        raise UserError(f'{what} {path} cannot be read ({err.strerror})'
                        f'{fix and "; " + fix}') from None
    problem = _problem(st.st_mode, st.st_size, max_bytes)
    if problem:
        raise UserError(f'{what} {path} {problem}{fix and "; " + fix}')
    return st.st_size


def read_bounded(path: str, what: str, max_bytes: int, fix: str = '') -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of
    them; a one-line UserError otherwise (see :func:`check_regular_file`)."""
    check_regular_file(path, what, max_bytes, fix)
    tail = fix and '; ' + fix
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        raise UserError(f'{what} {path} cannot be read ({err.strerror})'
                        f'{tail}') from None
    with os.fdopen(fd, 'rb') as f:
        st = os.fstat(fd)  # what was opened, not what was checked
        problem = _problem(st.st_mode, st.st_size, max_bytes)
        if problem:
            raise UserError(f'{what} {path} {problem}{tail}')
        try:
            data = f.read(max_bytes + 1)
        except OSError as err:
            raise UserError(f'{what} {path} cannot be read ({err.strerror})'
                            f'{tail}') from None
    if len(data) > max_bytes:  # it grew while being read
        problem = _problem(stat.S_IFREG, len(data), max_bytes)
        raise UserError(f'{what} {path} {problem}{tail}')
    return data


def parse_json(data: bytes, path: str, what: str, fix: str = ''):
    """The JSON value of ``data`` read from ``path``; a one-line UserError
    naming the position of a syntax error, or saying the text is not UTF-8,
    nested too deep or holds an integer too long to convert."""
    tail = fix and '; ' + fix
    try:
        return json.loads(data.decode('utf-8'))
    except json.JSONDecodeError as err:
        raise UserError(f'{what} {path} is not valid JSON: {err.msg} at line '
                        f'{err.lineno} column {err.colno}{tail}') from None
    except UnicodeDecodeError as err:
        raise UserError(f'{what} {path} is not UTF-8 JSON text ({err.reason} '
                        f'at byte {err.start}){tail}') from None
    except RecursionError:
        # Python's JSON reader recurses once per level of nesting
        raise UserError(f'{what} {path} nests JSON arrays or objects deeper '
                        'than Python can read (about 1000 levels); no '
                        f'annotation, metric or log needs that{tail}'
                        ) from None
    except ValueError as err:  # an integer of more than 4300 digits
        reason = ' '.join(str(err).split(':')[0].split())[:120]
        raise UserError(f'{what} {path} is not readable JSON ({reason})'
                        f'{tail}') from None


def load_json(path: str, what: str, max_bytes: int, fix: str = ''):
    """The JSON value in the regular file ``path`` of at most ``max_bytes``
    (:func:`read_bounded`, :func:`parse_json`)."""
    return parse_json(read_bounded(path, what, max_bytes, fix), path, what,
                      fix)
