"""What an image file declares before it is decoded, and what its decoder
says while it decodes it.

- :func:`declared_size` reads the width and height from the header (a few
  small reads), so a file that declares an absurd size (a 60000 x 60000
  PNG of a few kilobytes) is refused before any decoder allocates for it.
  The limit is :func:`max_image_pixels`: 100 megapixels unless the
  environment variable ``HIH_MAX_IMAGE_PIXELS`` sets another.
- :func:`decoder_warnings` collects what libjpeg and libpng print while
  OpenCV decodes. They print to the process's standard error and OpenCV
  still returns an image, so a JPEG damaged inside (its start and end
  markers intact) would otherwise train with a grey or garbled region and
  a warning that names no file.
"""
import contextlib
import os
import sys
import tempfile
import threading
from struct import unpack

from ..errors import UserError

MAX_PIXELS_ENV = 'HIH_MAX_IMAGE_PIXELS'
DEFAULT_MAX_PIXELS = 100_000_000

# JPEG start-of-frame markers (baseline, progressive, lossless, ...)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
        0xCE, 0xCF}
# Lines libjpeg / libpng print for damaged data (not for harmless quirks)
DAMAGE = ('Corrupt JPEG data', 'Premature end of JPEG file',
          'libpng error', 'libpng warning: IDAT', 'libpng warning: iCCP: CRC',
          'Invalid SOS parameters', 'Bogus marker length')


def max_image_pixels() -> int:
    """The pixel limit: ``HIH_MAX_IMAGE_PIXELS`` or 100 megapixels."""
    value = os.environ.get(MAX_PIXELS_ENV, '')
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise UserError(f'{MAX_PIXELS_ENV}={value} is not a positive whole '
                        'number of pixels; unset it for the default '
                        f'{DEFAULT_MAX_PIXELS}')
    return limit


def declared_size(f):
    """``(width, height)`` that the image in the binary file ``f`` declares
    in its header (JPEG, PNG, GIF, BMP; other formats through Pillow), or
    None when the header does not say."""
    f.seek(0)
    head = f.read(32)
    if head.startswith(b'\x89PNG\r\n\x1a\n') and head[12:16] == b'IHDR':
        return unpack('>II', head[16:24])
    if head.startswith(b'\xff\xd8'):
        return _jpeg_size(f)
    if head.startswith(b'GIF8') and len(head) >= 10:
        return unpack('<HH', head[6:10])
    if head.startswith(b'BM') and len(head) >= 26:
        width, height = unpack('<ii', head[18:26])
        return abs(width), abs(height)
    try:
        from PIL import Image
        f.seek(0)
        with Image.open(f) as img:  # reads the header only
            return img.size
    except Exception:  # noqa: BLE001  not a format Pillow knows
        return None


def _jpeg_size(f):
    pos = 2
    for _ in range(10000):  # a JPEG has a few dozen segments
        f.seek(pos)
        marker = f.read(4)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code == 0xFF:  # fill byte
            pos += 1
        elif 0xD0 <= code <= 0xD8 or code == 0x01:  # no length
            pos += 2
        elif code in _SOF:
            body = f.read(5)
            if len(body) < 5:
                return None
            height, width = unpack('>HH', body[1:5])
            return width, height
        elif code in (0xD9, 0xDA) or len(marker) < 4:
            return None  # the image data starts without a frame header
        else:
            pos += 2 + unpack('>H', marker[2:4])[0]
    return None


def image_size_problem(f):
    """Why the image in file ``f`` is refused before decoding, or None."""
    size = declared_size(f)
    limit = max_image_pixels()
    if size is not None and size[0] * size[1] > limit:
        return (f'declares {size[0]}x{size[1]} pixels, more than the limit '
                f'of {limit} (raise it with the environment variable '
                f'{MAX_PIXELS_ENV} if the image is real)')
    return None


_LOCK = threading.Lock()
_CAPTURE = {}  # process id -> the file that standard error goes to


def _capture_file():
    """This process's capture file, made once: creating a file for every
    image cost 6% of a training pipeline's loading. A forked worker makes
    its own, since it shares its parent's open files."""
    pid = os.getpid()
    if pid not in _CAPTURE:
        _CAPTURE.clear()
        _CAPTURE[pid] = tempfile.TemporaryFile()
    capture = _CAPTURE[pid]
    capture.seek(0)
    capture.truncate()
    return capture


@contextlib.contextmanager
def decoder_warnings():
    """Collect what native decoders print to standard error meanwhile.

    Yields a list that holds, on exit, the lines that report damaged data
    (:data:`DAMAGE`); every other line is passed on to standard error.
    """
    found = []
    with _LOCK:
        capture = _capture_file()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield found
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode('utf-8', 'replace')
            other = []
            for line in text.splitlines():
                (found if line.startswith(DAMAGE) else other).append(line)
            if other:
                print('\n'.join(other), file=sys.stderr)
