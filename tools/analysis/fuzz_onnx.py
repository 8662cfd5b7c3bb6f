"""Structure-aware fuzzing of the ``.onnx`` reader.

    python tools/analysis/fuzz_onnx.py [--seed 0] [--budget 60]
        [--case-seconds 10] [--out summary.json] [--models A.onnx ...]

Writes model files for ``hih_plugin.deploy.onnx_model.OnnxPoseModel`` for
``--budget`` seconds, on one thread, and sorts every outcome as
tools/analysis/fuzz_checkpoints.py does (``loads``: it loaded and ran
inference on an image; ``refused``: a one-line ``UserError``; anything else
is a bug, as is a case over ``--case-seconds`` of CPU time). A case is also
a bug if code from the file ran: every payload would create a canary file,
which must not exist after the case.

The files are valid exports whose parts are edited, not random bytes:

- the metadata's values: registry-looking dicts (``'type': 'os.system'``),
  ``from_file`` entries naming a Python file, wrong types, huge strings and
  lists, deeply nested JSON, NaN and Infinity, numbers out of range,
  control characters; its JSON text cut, spliced or repeated; unknown keys
  (``pipeline``, ``dataset_info``, ``visualizer``); with a recomputed
  integrity digest or not;
- the metadata entries: the old format with its payloads, other formats,
  entries missing, repeated or added;
- the graph: inputs and outputs renamed or reshaped, tensors in external
  files (``/dev/zero``, the canary's folder), unknown operators, shapes
  that fail only when the graph runs;
- the bytes: flipped, cut, inserted, appended;
- the path: a FIFO, a folder, a link to ``/dev/zero``.

The valid exports are a minimal graph of the format (it averages the crop;
the reader checks it as any export) and the ``--models`` given, e.g. files
of tools/deploy/export_onnx.py. Prints a JSON summary; exits 1 if any case
was a bug.
"""
import copy
import json
import os
import os.path as osp
import random
import sys
import tempfile

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np

from hih_plugin.cli.main import cli_main
from hih_plugin.deploy import require_onnx
from hih_plugin.deploy.metadata import (DIGEST_KEY, FORMAT, METADATA_KEY,
                                        PREFIX, SCHEMA, digest, sign)
from hih_plugin.errors import UserError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # its sibling tools
from fuzzing import (  # noqa: E402  # isort:skip
    check_fuzz_args, fuzz, fuzz_parser)

KEYPOINTS = 3
SIZE = (16, 12)  # crop w, h


def minimal_metadata() -> dict:
    return dict(
        config='minimal.py', decoding='the crop mean', input_size=list(SIZE),
        padding=1.25, use_udp=False, mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, dataset_name='fuzz',
        keypoint_names=['a', 'b', 'c'], flip_indices=[1, 0, 2],
        skeleton_links=[[0, 1], [1, 2]],
        keypoint_colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        link_colors=[[1, 2, 3], [4, 5, 6]], sigmas=[0.1, 0.1, 0.2])


def minimal_export():
    """A ModelProto of the format: keypoints and scores from the crop's
    mean, in plain ONNX operators."""
    from onnx import TensorProto, helper, numpy_helper
    w, h = SIZE
    consts = dict(kpt_scale=np.full((1, KEYPOINTS, 2), 2., np.float32),
                  kpt_shift=np.arange(KEYPOINTS * 2, dtype=np.float32)
                  .reshape(1, KEYPOINTS, 2),
                  score_scale=np.full((1, KEYPOINTS), .01, np.float32),
                  shape3=np.array([-1, 1, 1], np.int64),
                  shape2=np.array([-1, 1], np.int64))
    nodes = [
        helper.make_node('ReduceMean', ['input'], ['mean'], axes=[1, 2, 3],
                         keepdims=0),
        helper.make_node('Reshape', ['mean', 'shape3'], ['m3']),
        helper.make_node('Mul', ['m3', 'kpt_scale'], ['k0']),
        helper.make_node('Add', ['k0', 'kpt_shift'], ['keypoints']),
        helper.make_node('Reshape', ['mean', 'shape2'], ['m2']),
        helper.make_node('Mul', ['m2', 'score_scale'], ['s0']),
        helper.make_node('Sigmoid', ['s0'], ['scores']),
    ]
    graph = helper.make_graph(
        nodes, 'minimal',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT,
                                       [1, 3, h, w])],
        [helper.make_tensor_value_info('keypoints', TensorProto.FLOAT,
                                       [1, KEYPOINTS, 2]),
         helper.make_tensor_value_info('scores', TensorProto.FLOAT,
                                       [1, KEYPOINTS])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid('',
                                                                        17)])
    proto.ir_version = 8
    sign(proto, minimal_metadata())
    return proto


class Cases:
    """Writes a mutated copy of one of ``bases`` to ``path``."""

    def __init__(self, bases, path, canary, tmp):
        self.bases, self.path, self.canary = bases, path, canary
        self.evil = osp.join(tmp, 'evil.py')
        with open(self.evil, 'w') as f:
            f.write(f'open({canary!r}, "w").write("ran")\n')

    # ------------------------------------------------------------ values
    def hostile(self, rng, depth=0):
        """A value no export holds."""
        code = {'type': 'os.system', 'command': f'touch {self.canary}'}
        choices = [
            lambda: code, lambda: [code],
            lambda: {'from_file': self.evil},
            lambda: {'type': 'Compose', 'transforms': [code]},
            lambda: f'{{{{ {code} }}}}', lambda: 'x' * rng.choice(
                [301, 5000, 1 << 20]),
            lambda: '\x1b[2J\n' + 'a', lambda: None, lambda: True,
            lambda: rng.choice([-1, 0, 10**30, 2**63, -2**63]),
            lambda: rng.choice([1e308, -1e-308, 0.5, 1e-45]),
            lambda: list(range(rng.choice([0, 3, 4, 1001, 100000]))),
            lambda: [[rng.randrange(-5, 300)] * rng.randrange(4)] *
            rng.randrange(1, 2000), lambda: {},
            lambda: {str(i): i for i in range(rng.choice([1, 50]))},
            lambda: [self.hostile(rng, depth + 1)] if depth < 8 else [],
        ]
        return rng.choice(choices)()

    def meta_value(self, rng, meta):
        key = rng.choice(list(SCHEMA))
        value = copy.deepcopy(meta[key])
        if isinstance(value, list) and value and rng.random() < 0.5:
            idx = rng.randrange(len(value))
            if isinstance(value[idx], list) and value[idx] and \
                    rng.random() < 0.5:
                value[idx][rng.randrange(len(value[idx]))] = \
                    self.hostile(rng)
            else:
                value[idx] = self.hostile(rng)
        elif isinstance(value, list) and rng.random() < 0.3:
            value = value * rng.choice([2, 1000])
        else:
            value = self.hostile(rng)
        return dict(meta, **{key: value}), key

    def meta_text(self, rng, text):
        """The JSON text edited as text."""
        r = rng.randrange(7)
        i = rng.randrange(len(text))
        if r == 0:
            return text[:i], 'cut'
        if r == 1:
            n = rng.choice([10, 1000, 100000])
            return text[:-1] + ', "x": ' + '[' * n + ']' * n + '}', 'deep'
        if r == 2:
            return (text[:i] + rng.choice(['NaN', 'Infinity', '-Infinity',
                                           '1e999', '9' * 5000, '"\\ud800"'])
                    + text[i:]), 'literal'
        if r == 3:
            return text.replace('1.25', rng.choice(['NaN', '1e999', '-1',
                                                    'true', '"1.25"'])), \
                'padding'
        if r == 4:
            return text[:-1] + ', "padding": 2}', 'duplicate key'
        if r == 5:
            return text * 2, 'repeated'
        return text[:i] + chr(rng.randrange(32, 0x3000)) + text[i + 1:], \
            'char'

    # ------------------------------------------------------------ entries
    def entries(self, rng, base):
        meta = json.loads(next(p.value for p in base.metadata_props
                               if p.key == PREFIX + METADATA_KEY))
        text = json.dumps(meta)
        r = rng.random()
        if r < 0.4:
            meta, what = self.meta_value(rng, meta)
            entries, what = {METADATA_KEY: json.dumps(meta)}, 'value ' + what
        elif r < 0.6:
            text, what = self.meta_text(rng, text)
            entries = {METADATA_KEY: text}
        elif r < 0.75:
            key = rng.choice(['pipeline', 'data_preprocessor', 'visualizer',
                              'dataset_info', 'x', ''])
            meta[key] = rng.choice([[self.hostile(rng)], self.hostile(rng),
                                    {'from_file': self.evil}])
            if rng.random() < 0.3:
                del meta[rng.choice(list(SCHEMA))]
            entries, what = {METADATA_KEY: json.dumps(meta)}, 'keys'
        else:
            entries, what = self.props(rng, text)
        entries.setdefault('format', FORMAT)
        return entries, what

    def props(self, rng, text):
        code = json.dumps({'type': 'os.system',
                           'command': f'touch {self.canary}'})
        r = rng.randrange(5)
        if r == 0:  # the old format, with its payloads
            return {'format': 'hih-plugin-onnx/1', 'config': 'x.py',
                    'decoding': 'x', 'input_size': '[16, 12]',
                    'pipeline': f'[{code}]', 'data_preprocessor': code,
                    'visualizer': code, 'dataset_info': json.dumps(
                        {'from_file': self.evil})}, 'old format'
        if r == 1:
            return {'format': rng.choice(['', 'hih-plugin-onnx/3', 'x' * 10**5,
                                          FORMAT + '\n']),
                    METADATA_KEY: text}, 'format'
        if r == 2:
            return {}, 'no metadata'
        if r == 3:
            return {METADATA_KEY: text, 'pipeline': f'[{code}]'}, 'extra'
        return {METADATA_KEY: text, **{f'k{i}': 'v' for i in range(
            rng.choice([20, 5000]))}}, 'many'

    # -------------------------------------------------------------- graph
    def graph(self, rng, proto):
        g = proto.graph
        r = rng.randrange(6)
        shapes = [t for t in g.initializer if t.data_type == 7]  # int64
        if r == 5 and shapes:  # a shape that fails when the graph runs
            t = rng.choice(shapes)
            t.raw_data = np.array([rng.choice([-1, 0, 5, 7, 2**40])
                                   for _ in t.dims or [1]],
                                  np.int64).tobytes()
            return 'run time'
        if r == 0:  # a tensor read from another file
            from onnx import TensorProto
            t = rng.choice(list(g.initializer))
            t.ClearField('raw_data')
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = 'location', rng.choice(
                ['/dev/zero', self.evil, '../' * 20 + 'dev/zero'])
            return 'external'
        if r == 1:
            rng.choice(list(g.output)).name = rng.choice(['x', 'keypoints',
                                                          ''])
            return 'output name'
        if r == 2:
            dim = rng.choice(list(g.input[0].type.tensor_type.shape.dim))
            if rng.random() < 0.5:
                dim.dim_value = rng.choice([0, 1, 3, 4096, 2**40])
            else:
                dim.dim_param = 'batch'
            return 'input shape'
        if r in (3, 5):
            node = rng.choice(list(g.node))
            node.op_type = rng.choice(['PyOp', 'Loop', 'Identity', 'Foo'])
            return 'operator'
        node = rng.choice(list(g.node))
        node.input.append(rng.choice(['missing', 'input']))
        return 'node input'

    def special(self, rng):
        kind = rng.choice(['fifo', 'dir', 'zero'])
        if kind == 'fifo':
            os.mkfifo(self.path)
        elif kind == 'dir':
            os.mkdir(self.path)
        else:
            os.symlink('/dev/zero', self.path)
        return kind

    def __call__(self, rng):
        from onnx import ModelProto
        for leftover in (self.path, ):
            if osp.isdir(leftover) and not osp.islink(leftover):
                os.rmdir(leftover)
            elif osp.lexists(leftover):
                os.unlink(leftover)
        base = rng.choice(self.bases)
        proto = ModelProto.FromString(base.SerializeToString())
        r = rng.random()
        if r < 0.05:
            return 'path', self.special(rng)
        if r < 0.6:
            kind = 'metadata'
            entries, layout = self.entries(rng, proto)
            del proto.metadata_props[:]
            if rng.random() < 0.9:  # anyone can recompute it
                entries[DIGEST_KEY] = digest(proto.graph.SerializeToString(),
                                             entries)
            for key, value in entries.items():
                prop = proto.metadata_props.add()
                prop.key, prop.value = PREFIX + key, value
        elif r < 0.8:
            kind, layout = 'graph', self.graph(rng, proto)
            if rng.random() < 0.9:  # with the digest recomputed
                entries = {p.key[len(PREFIX):]: p.value
                           for p in proto.metadata_props}
                del entries[DIGEST_KEY]
                proto.metadata_props[-1].value = digest(
                    proto.graph.SerializeToString(), entries)
        else:
            kind, layout = 'bytes', 'flipped'
        data = bytearray(proto.SerializeToString())
        if kind == 'bytes':
            op = rng.randrange(4)
            i = rng.randrange(len(data))
            if op == 0:
                for _ in range(rng.randrange(1, 20)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                data, layout = data[:i], 'cut'
            elif op == 2:
                data[i:i] = rng.randbytes(rng.randrange(1, 64))
                layout = 'inserted'
            else:
                data += rng.randbytes(rng.randrange(1, 600))
                layout = 'appended'
        with open(self.path, 'wb') as f:
            f.write(data)
        return kind, layout


def use(path):
    """What the demo does with a model file: load it and run inference on
    an image (a box inside it, and the whole image)."""
    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    model = OnnxPoseModel(path, threads=1)
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), np.uint8)
    model.inference(img, np.array([[5, 4, 30, 33]], np.float32))
    model.inference(img)


@cli_main
def main(argv=None):
    parser = fuzz_parser(__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=[],
                        help='exports to mutate besides the minimal one')
    args = parser.parse_args(argv)
    check_fuzz_args(args)
    require_onnx()
    import onnx
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix='fuzz-onnx-')
    bases = [minimal_export()]
    for path in args.models:
        if not osp.isfile(path):
            raise UserError(f'--models: {path} is not a file')
        bases.append(onnx.load(path))
    for i, base in enumerate(bases):
        good = osp.join(tmp, f'base{i}.onnx')
        onnx.save(base, good)
        use(good)  # a base that does not load is no valid export
    canary = osp.join(tmp, 'code-ran')
    path = osp.join(tmp, 'case.onnx')

    def ran():
        if osp.lexists(canary):
            os.unlink(canary)
            return 'code from the file ran: it created the canary file'
        return None

    return fuzz(args, rng, tmp, path, Cases(bases, path, canary, tmp), use,
                check=ran)


if __name__ == '__main__':
    sys.exit(main())
