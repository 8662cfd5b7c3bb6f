"""Codec presets and target round trips shared by the codec tools here
(``quantization_error.py``, ``benchmark_codecs.py``).

Every MMPose codec encodes keypoints into its own training targets and decodes
network outputs of the same shape, but the names of the encoded fields and the
arguments of ``decode`` differ per codec. :func:`round_trip` feeds a codec's
own targets back into its ``decode``, which measures the error that the
representation alone adds (the quantization error), with no network involved.
"""
import copy
import os.path as osp
from typing import Dict, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from mmpose.registry import KEYPOINT_CODECS

# Codec settings of the usual 256x256 -> 64x64 face configs. ``heatmap_size``
# and ``input_size`` are filled in per run; everything else stays as here,
# so a sweep over heatmap sizes changes the resolution and nothing else.
PRESETS: Dict[str, dict] = {
    'msra': dict(type='MSRAHeatmap', sigma=2.0),
    'dark': dict(type='MSRAHeatmap', sigma=2.0, unbiased=True),
    'udp': dict(type='UDPHeatmap', sigma=2.0),
    # SimCC has no heatmap; its split ratio is set so that it has as many
    # bins per axis as the heatmap has cells (see ``build_codec``). Sigma is
    # in bins, as the heatmaps' sigma is in cells.
    'simcc': dict(type='SimCCLabel', sigma=2.0),
    'hih': dict(type='HIHHeatmap', decimal_size=8, sigma=1.5,
                decimal_sigma=1.0, decode_mode='argmax'),
    'hih-expectation': dict(type='HIHHeatmap', decimal_size=8, sigma=1.5,
                            decimal_sigma=1.0, decode_mode='expectation'),
    # The deterministic bilinear map, which is what the random one-hot
    # targets average to over epochs.
    'h3r': dict(type='H3RHeatmap', topk=9, expected=True),
    # One random draw: what a single training target holds.
    'h3r-draw': dict(type='H3RHeatmap', topk=9, expected=False),
}


def load_codec_cfg(spec: str) -> Tuple[str, dict]:
    """Return ``(label, codec dict)`` for a preset name or a config file.

    A config file is any MMEngine config with a top-level ``codec`` dict,
    such as ``configs/hih_wflw.py``.
    """
    if spec in PRESETS:
        return spec, copy.deepcopy(PRESETS[spec])
    if spec.endswith('.py'):
        if not osp.isfile(spec):
            raise FileNotFoundError(f'codec config not found: {spec}')
        cfg = Config.fromfile(spec)
        if not isinstance(cfg.get('codec', None), dict):
            raise ValueError(
                f'{spec} has no top-level `codec` dict; pass a config that '
                'defines one, or a preset name: ' + ', '.join(PRESETS))
        return osp.splitext(osp.basename(spec))[0], cfg.codec.to_dict()
    raise ValueError(f'unknown codec {spec!r}: give a preset name '
                     f'({", ".join(PRESETS)}) or a python config file with a '
                     '`codec` dict')


def build_codec(cfg: dict, input_size: Sequence[int],
                heatmap_size: Sequence[int]):
    """Build ``cfg`` with the given input and heatmap (or bin) resolution."""
    cfg = copy.deepcopy(cfg)
    cfg['input_size'] = tuple(input_size)
    if cfg['type'] == 'SimCCLabel':
        cfg['simcc_split_ratio'] = heatmap_size[0] / input_size[0]
    else:
        cfg['heatmap_size'] = tuple(heatmap_size)
    try:
        return KEYPOINT_CODECS.build(cfg)
    except KeyError as err:
        raise ValueError(
            f'codec type {cfg["type"]} is not registered ({err}); import the '
            'package that defines it (hih_plugin registers HIHHeatmap and '
            'H3RHeatmap)') from err


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide='ignore'):
        return np.log(x)


# How to turn a codec's encoded targets (of one instance) into the arguments
# of its decode(), shaped as a head's output for one sample. H3R decodes
# logits: the log of its probability map is the logit map that reproduces it
# under the top-k softmax.
_DECODE_INPUTS = {
    'MSRAHeatmap': lambda e: (e['heatmaps'], ),
    'UDPHeatmap': lambda e: (e['heatmaps'], ),
    'MegviiHeatmap': lambda e: (e['heatmaps'], ),
    'SimCCLabel': lambda e: (e['keypoint_x_labels'][0],
                             e['keypoint_y_labels'][0]),
    'HIHHeatmap': lambda e: (e['heatmaps'], e['decimal_heatmaps'][0]),
    'H3RHeatmap': lambda e: (_log(e['heatmaps']), ),
}


def decode_inputs(codec, encoded: dict) -> tuple:
    """The arguments of ``codec.decode`` that its targets ``encoded``
    stand for: a perfect network's output for one sample."""
    name = type(codec).__name__
    if name not in _DECODE_INPUTS:
        raise ValueError(
            f'no round trip known for codec {name}; add how its encoded '
            'fields map to decode() arguments in '
            'tools/analysis/codec_analysis.py:_DECODE_INPUTS')
    return _DECODE_INPUTS[name](encoded)


def round_trip(codec, keypoints: np.ndarray,
               keypoints_visible: Union[np.ndarray, None] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Encode ``keypoints`` (1, K, 2) and decode the targets back.

    Returns:
        tuple: decoded keypoints (1, K, 2) in input pixels, and the (1, K)
        boolean mask of keypoints the codec kept (target weight > 0).
    """
    if keypoints_visible is None:
        keypoints_visible = np.ones(keypoints.shape[:2], dtype=np.float32)
    encoded = codec.encode(keypoints, keypoints_visible)
    # Keypoints a codec drops (weight 0) may decode to NaN, e.g. an all-zero
    # H3R map gives log(0) everywhere; they are masked out below.
    with np.errstate(invalid='ignore'):
        decoded, _ = codec.decode(*decode_inputs(codec, encoded))
    weights = np.asarray(encoded['keypoint_weights']).reshape(1, -1)
    return np.asarray(decoded, dtype=np.float64).reshape(1, -1, 2), \
        weights > 0
