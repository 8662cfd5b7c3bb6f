"""HIH "Heatmap in Heatmap" codec: an integer heatmap plus a decimal one."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .utils import (decimal_bin_position, decode_hih_tensors,
                    finite_coordinates, generate_cell_gaussian_heatmaps,
                    generate_decimal_labels, hih_mode_defaults,
                    numpy_batch_of_one, sanitize_visibility)


@KEYPOINT_CODECS.register_module()
class HIHHeatmap(BaseKeypointCodec):
    """Represent keypoints as an integer heatmap plus a decimal heatmap, as in
    `HIH: Towards More Accurate Face Alignment via Heatmap in Heatmap`_ by
    Lan et al. (2022).

    Coordinates follow MMPose: ``u = x / s`` with ``s = input_size /
    heatmap_size``, and heatmap cell ``i`` is centred at ``u = i``. The
    integer cell is ``c = round(u)`` and the decimal heatmap spans that one
    cell: its ``d`` bins split the offset ``u - c`` in ``[-0.5, 0.5)``, bin
    ``j`` covering ``[-0.5 + j/d, -0.5 + (j+1)/d)``. The decimal target is a
    Gaussian centred on the continuous bin position of the true offset, so
    its argmax is the bin holding the offset and decoding the bin centre
    lands within ``1/(2d)`` cell of the truth, with zero mean error.

    ``convention='official'`` reproduces the official code for comparison:
    ``c = floor(u)``, a Gaussian on bin ``min(round(d * (u - c)), d - 1)``
    and decoding ``c + j/d``. Its round trip errs up to ``1/d`` cell with a
    mean of ``-1/(2d^2)`` cell per axis.

    The integer Gaussian is written only within ``3 * sigma`` of its cell,
    as the official code and ``MSRAHeatmap`` do.

    ``decimal_span`` lets the decimal map reach past its cell: its ``d``
    bins then span ``decimal_span`` cells centred on the cell (bin width
    ``decimal_span / d``), so an offset of up to ``decimal_span / 2`` cells
    can be represented. The paper's map spans one cell. A wider span is what
    lets :class:`HIHHead`'s local read-out, trained at the neighbours of the
    true cell, correct an integer argmax that lands a cell off.

    ``decimal_label`` picks the decimal soft label. ``'gaussian'`` (ours)
    normalises the Gaussian to sum 1, a sharp label (KL to uniform 1.68 nats
    at d = 8). ``'softmax'`` is the official label, for exact reproduction:
    the softmax over the d*d bins of a Gaussian with peak 1, which is nearly
    uniform (peak 0.038 against 1/64, KL to uniform 0.029 nats), so the
    decimal loss carries about 60x less signal.

    Note:

        - instance number: N
        - keypoint number: K
        - keypoint dimension: D (2)
        - image size: [w, h]
        - heatmap size: [W, H]
        - decimal size: d

    Encoded:

        - heatmaps (np.ndarray): The integer heatmaps in shape (K, H, W), a
            Gaussian with peak 1 on each keypoint's cell (max over instances)
        - decimal_heatmaps (np.ndarray): The decimal soft labels in shape
            (N, K, d, d), each a distribution (sums to 1). They are
            per-instance labels because MMPose's ``PixelData`` requires every
            field to share the heatmap's (H, W)
        - keypoint_cells (np.ndarray): The integer cells ``[x, y]`` the
            decimal maps refer to, in shape (N, K, 2); the local read-out of
            :class:`HIHHead` gathers its features there in training
        - keypoint_offsets (np.ndarray): The sub-cell offsets ``u - cell``
            in cells, in shape (N, K, 2); the local read-out builds the
            labels of the cells around the true one from them
        - keypoint_weights (np.ndarray): The target weights in shape (N, K);
            0 for invisible keypoints, keypoints whose cell lies outside the
            heatmap and non-finite coordinates

    ``decimal_mode`` picks the defaults of the arguments left at ``None``;
    an explicit value always wins. ``'global'`` is the paper's codec;
    ``'local'`` is the recipe of ``configs/hih-local_wflw.py`` for
    :class:`HIHHead`'s local read-out (its ablation:
    docs/results/local_readout.md):

    ================  ===========  =================
    argument          ``'global'``  ``'local'``
    ================  ===========  =================
    ``decimal_size``  8            24
    ``decimal_span``  1            3
    ``sigma``         1.5          0.75 (0.5 at stride >= 8)
    ``decode_mode``   'argmax'     'expectation'
    ================  ===========  =================

    Args:
        input_size (tuple): Image size in [w, h]
        heatmap_size (tuple): Integer heatmap size in [W, H]; each side must
            divide the input size
        decimal_mode (str): ``'global'`` or ``'local'``, the defaults above.
            Defaults to ``'global'``
        decimal_size (int, optional): Number of decimal bins per axis,
            ``d >= 2``. Defaults to ``None`` (see the table)
        decimal_span (int, optional): Number of cells the decimal bins
            span, an odd integer >= 1. Defaults to ``None``
        sigma (float, optional): Sigma of the integer heatmap Gaussian in
            cells. Defaults to ``None`` (see the table; the local sigma
            depends on the stride ``input_size / heatmap_size``)
        decimal_sigma (float): Sigma of the decimal Gaussian in bins.
            Defaults to 1.0
        decode_mode (str, optional): ``'argmax'`` takes the most likely
            decimal bin, as the paper does; ``'expectation'`` takes the mean
            bin of the decimal distribution (expects non-negative input such
            as a softmax). Defaults to ``None``
        convention (str): ``'unbiased'`` (ours) or ``'official'`` (biased,
            for comparison only). Defaults to ``'unbiased'``
        decimal_label (str): ``'gaussian'`` (ours) or ``'softmax'`` (the
            official, nearly uniform label). Defaults to ``'gaussian'``

    .. _`HIH: Towards More Accurate Face Alignment via Heatmap in Heatmap`:
        https://arxiv.org/abs/2104.03100
    """

    label_mapping_table = dict(
        keypoint_weights='keypoint_weights',
        decimal_heatmaps='decimal_heatmaps',
        keypoint_cells='keypoint_cells',
        keypoint_offsets='keypoint_offsets')
    field_mapping_table = dict(heatmaps='heatmaps')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 decimal_mode: str = 'global',
                 decimal_size: Optional[int] = None,
                 decimal_span: Optional[int] = None,
                 sigma: Optional[float] = None,
                 decimal_sigma: float = 1.0,
                 decode_mode: Optional[str] = None,
                 convention: str = 'unbiased',
                 decimal_label: str = 'gaussian') -> None:
        super().__init__()
        defaults = hih_mode_defaults(decimal_mode, input_size, heatmap_size)
        decimal_size = defaults['decimal_size'] if decimal_size is None \
            else decimal_size
        decimal_span = defaults['decimal_span'] if decimal_span is None \
            else decimal_span
        sigma = defaults['sigma'] if sigma is None else sigma
        decode_mode = defaults['decode_mode'] if decode_mode is None \
            else decode_mode
        if int(decimal_size) != decimal_size or decimal_size < 2:
            raise ValueError(
                f'HIHHeatmap: decimal_size={decimal_size!r} must be an '
                'integer >= 2 (one bin cannot hold a sub-cell position); '
                'use decimal_size=8 as in the paper, or 4 / 16')
        if isinstance(decimal_span, bool) or int(decimal_span) != \
                decimal_span or decimal_span < 1 or decimal_span % 2 == 0:
            raise ValueError(
                f'HIHHeatmap: decimal_span={decimal_span!r} must be an odd '
                'integer >= 1 (the bins are centred on the cell); use 1 as '
                'in the paper, or 3 for a local read-out that can move to a '
                'neighbouring cell')
        if convention == 'official' and decimal_span != 1:
            raise ValueError(
                "HIHHeatmap: convention='official' is the paper's one-cell "
                f'map; decimal_span={decimal_span} needs '
                "convention='unbiased'")
        if len(input_size) != 2 or len(heatmap_size) != 2:
            raise ValueError(
                'HIHHeatmap: input_size and heatmap_size must be [w, h] '
                f'pairs, got {input_size!r} and {heatmap_size!r}')
        for i_s, h_s in zip(input_size, heatmap_size):
            if h_s <= 0 or i_s % h_s:
                raise ValueError(
                    f'HIHHeatmap: input_size {tuple(input_size)} is not an '
                    f'integer multiple of heatmap_size {tuple(heatmap_size)};'
                    ' pick a heatmap_size that divides the input size (e.g. '
                    'input_size // 4 for a stride-4 backbone)')
        if decode_mode not in ('argmax', 'expectation'):
            raise ValueError(
                f'HIHHeatmap: decode_mode={decode_mode!r} is unknown; use '
                "'argmax' or 'expectation'")
        if convention not in ('unbiased', 'official'):
            raise ValueError(
                f'HIHHeatmap: convention={convention!r} is unknown; use '
                "'unbiased' (default) or 'official'")
        if decimal_label not in ('gaussian', 'softmax'):
            raise ValueError(
                f'HIHHeatmap: decimal_label={decimal_label!r} is unknown; use '
                "'gaussian' (default) or 'softmax' (the official label)")
        if sigma <= 0 or decimal_sigma <= 0:
            raise ValueError('HIHHeatmap: sigma and decimal_sigma must be '
                             f'positive, got {sigma} and {decimal_sigma}')

        self.decimal_mode = decimal_mode
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.decimal_size = int(decimal_size)
        self.decimal_span = int(decimal_span)
        self.sigma = sigma
        self.decimal_sigma = decimal_sigma
        self.decode_mode = decode_mode
        self.convention = convention
        self.decimal_label = decimal_label
        self.scale_factor = (np.array(input_size, dtype=np.float32) /
                             np.array(heatmap_size, dtype=np.float32))

    # encoding

    def _split(self, u: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Heatmap coordinates -> integer cell and continuous bin position
        (the point where the decimal Gaussian is centred)."""
        d = self.decimal_size
        if self.convention == 'official':
            cell = np.floor(u)
            bins = np.minimum(np.round(d * (u - cell)), d - 1)
        else:
            cell = np.floor(u + 0.5)
            bins = decimal_bin_position(u - cell, d, self.decimal_span)
        return cell, bins

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints (in input-image pixels) into an integer heatmap
        and decimal soft labels.

        Args:
            keypoints (np.ndarray): Keypoint coordinates in shape (N, K, D)
            keypoints_visible (np.ndarray): Keypoint visibilities in shape
                (N, K) or (N, K, 1); NaN/inf count as invisible, with a
                warning

        Returns:
            dict:
            - heatmaps (np.ndarray): The integer heatmaps in shape (K, H, W)
            - decimal_heatmaps (np.ndarray): The decimal soft labels in
                shape (N, K, d, d), each summing to 1
            - keypoint_weights (np.ndarray): The target weights in shape
                (N, K)
            - keypoint_cells (np.ndarray): The integer cells in shape
                (N, K, 2), 0 where the weight is 0
            - keypoint_offsets (np.ndarray): The offsets ``u - cell`` in
                shape (N, K, 2), 0 where the weight is 0
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
        N, K, _ = keypoints.shape
        visible = sanitize_visibility(keypoints_visible, (N, K),
                                      'HIHHeatmap')
        W, H = self.heatmap_size

        finite = finite_coordinates(keypoints, visible, 'HIHHeatmap')
        u = np.where(finite[..., None], keypoints, 0.) / self.scale_factor
        cell, bins = self._split(u)
        in_map = ((cell[..., 0] >= 0) & (cell[..., 0] < W) &
                  (cell[..., 1] >= 0) & (cell[..., 1] < H))
        weights = (visible * (finite & in_map)).astype(np.float32)
        valid = weights > 0

        heatmaps = generate_cell_gaussian_heatmaps(self.heatmap_size, cell,
                                                   valid, self.sigma)
        decimal = generate_decimal_labels(bins, valid, self.decimal_size,
                                          self.decimal_sigma,
                                          self.decimal_label)
        return dict(
            heatmaps=heatmaps,
            decimal_heatmaps=decimal.astype(np.float32),
            keypoint_weights=weights,
            keypoint_cells=np.where(valid[..., None], cell,
                                    0).astype(np.float32),
            keypoint_offsets=np.where(valid[..., None], u - cell,
                                      0).astype(np.float32))

    # decoding

    def decode(self, heatmaps: np.ndarray,
               decimal_heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode keypoints of one instance, in input-image pixels: the
        :meth:`batch_decode` of a batch of one.

        Args:
            heatmaps (np.ndarray): Integer heatmaps in shape (K, H, W)
            decimal_heatmaps (np.ndarray): Decimal heatmaps in shape
                (K, d, d) or (1, K, d, d): logits or probabilities for
                ``'argmax'``, non-negative weights for ``'expectation'``

        Returns:
            tuple:
            - keypoints (np.ndarray): Decoded coordinates in shape (1, K, 2);
                NaN where the integer or decimal map holds a NaN or +inf
                cell, or no finite one
            - scores (np.ndarray): The integer heatmap maxima in shape
                (1, K); 0 where the coordinates are NaN
        """
        decimal = np.asarray(decimal_heatmaps, np.float64)
        # (1, K, d, d), one instance's label as encode() gives it, too
        if decimal.ndim == 4 and len(decimal) == 1:
            decimal = decimal[0]
        keypoints, scores = self.batch_decode(
            numpy_batch_of_one(heatmaps), numpy_batch_of_one(decimal))
        return keypoints[0], scores[0]

    def batch_decode(self,
                     batch_heatmaps: Tensor,
                     batch_decimal_heatmaps: Tensor,
                     cells: Optional[Tensor] = None,
                     cell_weights: Optional[Tensor] = None
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch on the tensors' own device, in float64.

        By default each keypoint is read at the argmax cell of its integer
        heatmap. With ``cells``, each keypoint is the ``cell_weights``
        weighted mean of M votes, vote m being ``cells[..., m, :]`` plus the
        offset its own decimal map ``[..., m, :, :]`` decodes to (the
        neighbour votes of :class:`HIHHead`'s local read-out).

        Args:
            batch_heatmaps (Tensor): Integer heatmaps in shape (B, K, H, W)
            batch_decimal_heatmaps (Tensor): Decimal heatmaps in shape
                (B, K, d, d), or (B, K, M, d, d) with ``cells``
            cells (Tensor, optional): Integer cells ``[x, y]`` of the votes
                in shape (B, K, M, 2)
            cell_weights (Tensor, optional): Non-negative vote weights in
                shape (B, K, M), each keypoint's summing to more than 0.
                Defaults to equal weights

        Returns:
            tuple:
            - batch_keypoints (List[np.ndarray]): Each in shape (1, K, 2);
                NaN for non-finite maps, as :meth:`decode`
            - batch_scores (List[np.ndarray]): Each in shape (1, K), the
                integer heatmap maxima
        """
        # inference mode records no graph: no input needs a detach()
        with torch.inference_mode():
            keypoints, scores = self.decode_tensors(
                batch_heatmaps, batch_decimal_heatmaps.double(), cells,
                cell_weights)
        keypoints = keypoints.cpu().numpy().astype(np.float32)
        scores = scores.float().cpu().numpy()
        return ([kpt[None] for kpt in keypoints],
                [score[None] for score in scores])

    def decode_tensors(self,
                       heatmaps: Tensor,
                       decimal_heatmaps: Tensor,
                       cells: Optional[Tensor] = None,
                       cell_weights: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Tensor]:
        """The decoding behind :meth:`decode` and :meth:`batch_decode`, on
        tensors and in the decimal maps' dtype, traceable for ONNX export:
        :func:`decode_hih_tensors` with this codec's settings.

        Returns:
            tuple: keypoints (B, K, 2) in input pixels and scores (B, K)
        """
        shape = tuple(decimal_heatmaps.shape)
        self._check_decimal_shape(shape)
        lead = tuple(heatmaps.shape[:2])
        expected = lead if cells is None else tuple(cells.shape[:3])
        if shape[:-2] != expected or expected[:2] != lead or (
                cells is not None and tuple(cells.shape[3:]) != (2, )):
            votes = '' if cells is None else \
                f' and vote cells in shape {tuple(cells.shape)}'
            raise ValueError(
                f'HIHHeatmap: decimal heatmaps in shape {shape} for '
                f'heatmaps in shape {tuple(heatmaps.shape)}{votes}; pass '
                '(B, K, d, d) decimal maps, or (B, K, M, d, d) with (B, K, '
                'M, 2) cells, one decimal map per vote')
        return decode_hih_tensors(
            heatmaps, decimal_heatmaps, self.scale_factor.tolist(),
            self.decode_mode, self.decimal_span, self.convention, cells,
            cell_weights)

    def _check_decimal_shape(self, shape: Sequence[int]) -> None:
        d = self.decimal_size
        if tuple(shape[-2:]) != (d, d):
            raise ValueError(
                f'HIHHeatmap: decimal heatmaps have spatial size '
                f'{tuple(shape[-2:])} but the codec has decimal_size={d}; '
                'set the head and codec to the same decimal_size')
