"""Files a tool writes: checked before the work, written whole or not at all.

Every output goes to a new temporary file that ``mkstemp`` creates in the
target folder (``O_EXCL``, so a symbolic link planted there is never opened
or followed), and is renamed into place only when it is complete. A link at
the target itself is replaced, not written through, and an interrupted tool
leaves the old file as it was.
"""
import contextlib
import os
import os.path as osp
import stat
import tempfile

from ..errors import UserError


def check_output_file(path: str, flag: str = '--out') -> str:
    """``path`` as an absolute path, or a UserError if no file can be
    written there: an existing directory or special file (FIFO, device,
    socket) at it, or a parent that is not a folder. Call it before the
    expensive work, so a bad path costs nothing."""
    if not path or path.endswith(('/', os.sep)):
        raise UserError(f'{flag} {path!r} names no file; give a file path')
    path = osp.abspath(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise UserError(f'{flag} {path}: {err.strerror}')
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError(f'{flag} {path} is a directory; give a file path '
                        'inside it')
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise UserError(f'{flag} {path} exists and is not a regular file '
                        '(a FIFO, device or socket); give another path')
    check_output_dir(osp.dirname(path), flag)
    return path


def check_output_dir(folder: str, flag: str = '--out-dir') -> str:
    """``folder`` as an absolute path, created if missing; a UserError if
    it is a file or cannot be created or written."""
    folder = osp.abspath(folder)
    if osp.lexists(folder) and not osp.isdir(folder):
        raise UserError(f'{flag}: {folder} exists and is not a folder')
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError(f'{flag}: cannot create {folder}: {err.strerror}')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f'{flag}: {folder} is not writable')
    return folder


@contextlib.contextmanager
def new_file(folder: str, mode: str = 'w', suffix: str = ''):
    """Yield ``(file, path)`` of a new file in ``folder``, created by
    ``mkstemp``; it is deleted if writing fails. The caller renames it into
    place (``os.replace``)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.hih-', suffix=suffix)
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, mode) as f:
            yield f, tmp
    except BaseException:
        os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside ``path``, with its extension (for
    writers that pick the format by it, such as OpenCV's and MMEngine's);
    on success it replaces ``path``, on failure it is removed."""
    path = osp.abspath(path)
    with new_file(osp.dirname(path), 'wb', osp.splitext(path)[1]) as (_, tmp):
        pass
    try:
        yield tmp
        if not osp.isfile(tmp) or osp.islink(tmp):
            raise UserError(f'nothing was written to {path}')
        os.replace(tmp, path)  # replaces a link at path, never follows it
    finally:
        if osp.lexists(tmp):
            os.unlink(tmp)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole, through a new temporary file."""
    with new_file(osp.dirname(osp.abspath(path))) as (f, tmp):
        f.write(text)
    os.replace(tmp, path)
