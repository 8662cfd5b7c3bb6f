"""The file-format checks made before anything is unpickled.

Only the zip format of ``torch.save`` (the default since torch 1.6, what
MMEngine writes), starting at byte 0, with uncompressed records is
accepted: anything else would send ``torch.load`` down its legacy tar path.
"""
import zipfile
from struct import unpack

from ..errors import CheckpointError
from .refusal import brief

_ZIP_MAGIC = b'PK\x03\x04'


def _check_layout(path, infos):
    """The zip starts at byte 0 and each record's local header names it.

    torch.load takes a file that does not start with a zip record for the
    legacy tar format, whose reader opens its members: a FIFO member blocks
    forever. Python's zipfile accepts data before the archive, which
    torch's reader would see differently, so refuse that too.
    """
    with open(path, 'rb') as f:
        if f.read(4) != _ZIP_MAGIC:
            raise CheckpointError(
                f'cannot read checkpoint {path}: it does not start with a '
                'zip record, as torch.save writes (data before the archive, '
                'or the legacy pre-1.6 format: load and re-save that with '
                'torch.save where you trust it)')
        for info in infos:
            f.seek(info.header_offset)
            raw = info.orig_filename.encode(
                'utf-8' if info.flag_bits & 0x800 else 'cp437')
            head = f.read(30)
            if (len(head) < 30 or head[:4] != _ZIP_MAGIC
                    or unpack('<H', head[26:28])[0] != len(raw)
                    or f.read(len(raw)) != raw):
                raise CheckpointError(
                    f'refused to load the checkpoint {path}: its zip '
                    f'directory and record headers disagree about '
                    f'{brief(info.filename)} (data before the archive, or '
                    'a damaged file)')
    if infos and min(info.header_offset for info in infos) != 0:
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'zip archive does not start at byte 0')


def zip_records(path, size):
    """Sizes of the storage records; refuse what torch.save never writes."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
            EOFError) as err:
        raise CheckpointError(
            f'cannot read checkpoint {path}: it is not a zip archive as '
            f'torch.save writes ({err}): the file is truncated or damaged, '
            'or in the legacy pre-1.6 torch.save format (load and re-save '
            'that with torch.save where you trust it)')
    _check_layout(path, infos)
    names = [info.filename for info in infos]
    prefix = names[0].split('/')[0] + '/' if names else ''
    if f'{prefix}data.pkl' not in names:
        raise CheckpointError(f'cannot read checkpoint {path}: the zip '
                              'archive has no data.pkl, so torch.save did '
                              'not write it')
    if len(set(names)) != len(names):
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'zip archive names a record twice')
    for info in infos:
        if (not info.filename.startswith(prefix)
                or info.compress_type != zipfile.ZIP_STORED):
            raise CheckpointError(
                f'refused to load the checkpoint {path}: zip record '
                f'{info.filename} is compressed or outside {prefix} '
                '(torch.save stores records uncompressed in one folder)')
    if sum(info.file_size for info in infos) > size:
        raise CheckpointError(f'refused to load the checkpoint {path}: its '
                              'records are larger than the file')
    start = f'{prefix}data/'
    return {
        info.filename[len(start):]: info.file_size
        for info in infos if info.filename.startswith(start)
    }
