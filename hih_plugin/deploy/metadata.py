"""The metadata of an exported ``.onnx``: plain values under a fixed schema.

A model file is data that people download and share, so its metadata holds
numbers, booleans and short strings only, never a config, a registry name or
a path: what the crop, the normalisation and the drawing need
(:data:`SCHEMA`). :func:`read_metadata` checks the whole of it against the
schema, with bounds on every size, length, range and on the nesting depth,
before anything uses it, and refuses anything else in one line naming the
key. The code that cuts the crops and draws is ours
(:mod:`hih_plugin.deploy.onnx_model`); the file only parametrises it.

The SHA-256 of the graph and the metadata (:func:`digest`) is an integrity
check against accidental damage (a copy cut short, a changed byte). It has
no key: whoever edits a file can recompute it, so it protects nothing
against a deliberate edit; the schema does that.
"""
import hashlib
import json
import math
import re

from ..errors import UserError

FORMAT = 'hih-plugin-onnx/2'
PREFIX = 'hih_plugin.'
# metadata_props keys (after PREFIX); nothing else may be in the file
FORMAT_KEY, METADATA_KEY, DIGEST_KEY = 'format', 'metadata', 'sha256'
REEXPORT = 're-export it with tools/deploy/export_onnx.py'

MAX_PROPS = 16  # metadata_props entries
MAX_METADATA_CHARS = 1 << 20  # the JSON document
MAX_DEPTH = 3  # object -> list -> list, the schema's deepest value
MAX_KEYPOINTS = 1000
MAX_LINKS = 4000
MAX_NAME = 100  # keypoint and dataset names
MAX_TEXT = 300  # the config's name, the decoding's description
MAX_SIDE = 4096  # crop side, in pixels
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f]')


def quoted(text, limit: int = 60) -> str:
    """``text`` from a file, safe to print in a one-line message."""
    text = str(text)
    return repr(text[:limit] + ('...' if len(text) > limit else ''))


# ------------------------------------------------------------ validators
# Each returns what is wrong with a value, or None.
def _int(lo, hi):
    def check(v):
        if type(v) is not int or not lo <= v <= hi:
            return f'is not a whole number in [{lo}, {hi}]'
    return check


def _number(lo, hi, above=False):
    def check(v):
        if type(v) not in (int, float) or not math.isfinite(v) or \
                not lo <= v <= hi or (above and v <= lo):
            return (f'is not a finite number in {"(" if above else "["}'
                    f'{lo:g}, {hi:g}]')
    return check


def _bool(v):
    if type(v) is not bool:
        return 'is not true or false'


def _text(limit):
    def check(v):
        if type(v) is not str or not 0 < len(v) <= limit or \
                _CONTROL.search(v):
            return (f'is not a text of 1 to {limit} printable '
                    'characters')
    return check


def _list(item, lo, hi):
    def check(v):
        if type(v) is not list or not lo <= len(v) <= hi:
            return f'is not a list of {lo} to {hi} entries'
        for i, x in enumerate(v):
            problem = item(x)
            if problem:
                return f'entry {i} {problem}'
    return check


_COLOUR = _list(_int(0, 255), 3, 3)
_PAIR = _list(_int(0, MAX_KEYPOINTS - 1), 2, 2)

SCHEMA = {
    'config': _text(MAX_TEXT),
    'decoding': _text(MAX_TEXT),
    'input_size': _list(_int(8, MAX_SIDE), 2, 2),
    'padding': _number(0, 100, above=True),
    'use_udp': _bool,
    'mean': _list(_number(-1e4, 1e4), 3, 3),
    'std': _list(_number(0, 1e4, above=True), 3, 3),
    'bgr_to_rgb': _bool,
    'dataset_name': _text(MAX_NAME),
    'keypoint_names': _list(_text(MAX_NAME), 1, MAX_KEYPOINTS),
    'flip_indices': _list(_int(0, MAX_KEYPOINTS - 1), 1, MAX_KEYPOINTS),
    'skeleton_links': _list(_PAIR, 0, MAX_LINKS),
    'keypoint_colors': _list(_COLOUR, 1, MAX_KEYPOINTS),
    'link_colors': _list(_COLOUR, 0, MAX_LINKS),
    'sigmas': _list(_number(0, 100), 0, MAX_KEYPOINTS),
}


def _relations(meta: dict):
    """What is wrong between the entries, or None: every per-keypoint
    list has one entry per keypoint, indices name keypoints."""
    num = len(meta['keypoint_names'])
    if len(set(meta['keypoint_names'])) != num:
        return 'keypoint_names', 'names a keypoint twice'
    for key in ('flip_indices', 'keypoint_colors'):
        if len(meta[key]) != num:
            return key, f'has {len(meta[key])} entries, not {num}'
    if meta['sigmas'] and len(meta['sigmas']) != num:
        return 'sigmas', f'has {len(meta["sigmas"])} entries, not {num}'
    if max(meta['flip_indices']) >= num:
        return 'flip_indices', f'holds an index past the {num} keypoints'
    if any(i >= num for link in meta['skeleton_links'] for i in link):
        return 'skeleton_links', f'holds an index past the {num} keypoints'
    if len(meta['link_colors']) != len(meta['skeleton_links']):
        return 'link_colors', (f'has {len(meta["link_colors"])} entries, '
                               f'not one per skeleton link')
    return None


def check_metadata(meta, where: str) -> dict:
    """``meta`` if it fits :data:`SCHEMA` exactly, else a UserError naming
    the first key that does not."""
    if type(meta) is not dict:
        raise UserError(f'{where}: its metadata is not a JSON object; '
                        f'{REEXPORT}')
    for key in meta:
        if key not in SCHEMA:
            raise UserError(f'{where}: metadata key {quoted(key)} is not one '
                            f'this package writes; {REEXPORT}')
    missing = [k for k in SCHEMA if k not in meta]
    if missing:
        raise UserError(f'{where}: metadata lacks {", ".join(missing)}; '
                        f'{REEXPORT}')
    for key, check in SCHEMA.items():
        problem = check(meta[key])
        if problem:
            raise UserError(f'{where}: metadata {key} {problem}; {REEXPORT}')
    found = _relations(meta)
    if found:
        raise UserError(f'{where}: metadata {found[0]} {found[1]}; '
                        f'{REEXPORT}')
    return meta


# ------------------------------------------------------------ the JSON
def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects in the JSON ``text``,
    counted before parsing (the parser recurses)."""
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = deepest = 0
    for ch in re.findall(r'[\[\]{}]', outside):
        depth += 1 if ch in '[{' else -1
        deepest = max(deepest, depth)
    return deepest


def _refuse_constant(name):
    raise ValueError(f'{name} is not a number JSON allows')


def _unique(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError('a key appears twice in an object')
    return dict(pairs)


def parse_json(text: str, where: str):
    """The JSON ``text`` of the metadata, within the size and depth limits,
    without NaN, Infinity or a key twice; a UserError otherwise."""
    if len(text) > MAX_METADATA_CHARS:
        raise UserError(f'{where}: its metadata holds {len(text)} characters,'
                        f' more than the {MAX_METADATA_CHARS} allowed; '
                        f'{REEXPORT}')
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise UserError(f'{where}: its metadata nests {depth} levels deep, '
                        f'more than the {MAX_DEPTH} of the format; '
                        f'{REEXPORT}')
    try:
        return json.loads(text, parse_constant=_refuse_constant,
                          object_pairs_hook=_unique)
    except ValueError as err:  # JSONDecodeError, an int of 4300+ digits
        raise UserError(f'{where}: its metadata is not valid JSON '
                        f'({" ".join(str(err).split())[:200]}); {REEXPORT}')


def digest(graph_bytes: bytes, entries: dict) -> str:
    """SHA-256 of the graph and the metadata entries: an integrity check
    against accidental damage, not against a deliberate edit."""
    h = hashlib.sha256(graph_bytes)
    h.update(json.dumps(entries, sort_keys=True).encode())
    return h.hexdigest()


def sign(proto, metadata: dict) -> None:
    """Set the schema-checked ``metadata`` and its integrity digest on a
    ModelProto (its only metadata_props)."""
    check_metadata(metadata, 'the export')
    del proto.metadata_props[:]
    entries = {FORMAT_KEY: FORMAT,
               METADATA_KEY: json.dumps(metadata, sort_keys=True)}
    entries[DIGEST_KEY] = digest(proto.graph.SerializeToString(), entries)
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = PREFIX + key, value


def read_metadata(proto, where: str) -> dict:
    """The checked metadata of a ModelProto; a UserError naming what is
    outside the format. The digest is checked by the caller, after the
    graph, so that a damaged file is named as damaged."""
    props = list(proto.metadata_props)
    if len(props) > MAX_PROPS:
        raise UserError(f'{where} has {len(props)} metadata entries, more '
                        f'than this package writes; {REEXPORT}')
    entries = {}
    for p in props:
        # protobuf hands over a string that is not UTF-8 as bytes
        if not (isinstance(p.key, str) and isinstance(p.value, str)):
            raise UserError(f'{where}: metadata entry {quoted(p.key)} is not '
                            f'UTF-8 text; {REEXPORT}')
        if p.key in entries:
            raise UserError(f'{where}: metadata key {quoted(p.key)} appears '
                            f'twice; {REEXPORT}')
        entries[p.key] = p.value
    fmt = entries.get(PREFIX + FORMAT_KEY)
    if fmt is None:
        raise UserError(
            f'{where} carries no hih-plugin metadata (format, crop, '
            f'keypoints); it was not exported by this package: {REEXPORT}')
    if fmt != FORMAT:
        raise UserError(f'{where} has metadata format {quoted(fmt)}, this '
                        f'package reads {FORMAT!r} only (model files hold '
                        f'plain values since then); {REEXPORT}')
    known = {PREFIX + k for k in (FORMAT_KEY, METADATA_KEY, DIGEST_KEY)}
    for key in entries:
        if key not in known:
            raise UserError(f'{where}: metadata key {quoted(key)} is not one '
                            f'this package writes; {REEXPORT}')
    if len(entries) != len(known):
        raise UserError(f'{where} lacks its metadata or its integrity '
                        f'digest; {REEXPORT}')
    meta = parse_json(entries[PREFIX + METADATA_KEY], where)
    return check_metadata(meta, where)


def check_digest(proto, where: str) -> None:
    """Compare the stored digest with the graph's and metadata's."""
    entries = {p.key[len(PREFIX):]: p.value for p in proto.metadata_props}
    stored = entries.pop(DIGEST_KEY)
    if stored != digest(proto.graph.SerializeToString(), entries):
        raise UserError(
            f'{where} is damaged: its weights or metadata changed after '
            'export (integrity check: SHA-256 mismatch; this catches '
            f'accidental damage, not deliberate edits); {REEXPORT}')
