"""H3R: heatmap regression via randomized rounding (Yu & Tao, TPAMI 2021)."""
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .utils import (decode_topk_tensors, finite_coordinates,
                    generate_bilinear_heatmaps, generate_rounded_heatmaps,
                    numpy_batch_of_one, sanitize_visibility)


@KEYPOINT_CODECS.register_module()
class H3RHeatmap(BaseKeypointCodec):
    """Represent keypoints as one-hot heatmaps at a randomly rounded cell, as
    in `Heatmap Regression via Randomized Rounding`_ by Yu and Tao (2021).

    With ``s = input_size / heatmap_size`` a keypoint ``x`` lies at heatmap
    coordinate ``u = x / s``, and cell ``i`` is centred at ``u = i`` (MMPose's
    convention). Each axis of ``u`` is rounded up with probability equal to
    its fractional part and down otherwise, independently, so the expected
    target is the bilinear four-cell split of ``u`` and ``E[cell] = u``: the
    encoding is unbiased. A fresh draw is taken on every call, so each epoch
    sees new roundings.

    Decoding takes the ``topk`` largest logits over the whole map, applies a
    softmax over them and returns the probability-weighted mean of their cell
    centres times ``s``. Fed the log of the expected map this returns ``u``
    exactly (the five or more cells of probability 0 may be ``-inf``; they get
    weight 0), which makes the encoding lossless. Ties at the ``topk``-th
    largest logit go to the lower flat index (row-major: smaller ``y``, then
    smaller ``x``), in :meth:`decode` and :meth:`batch_decode` alike; an
    all-equal map thus decodes to the mean of its first ``topk`` cells. A map
    with a NaN or ``+inf`` cell, or without any finite cell, decodes to NaN
    coordinates with score 0.

    Note:

        - instance number: N
        - keypoint number: K
        - keypoint dimension: D
        - image size: [w, h]
        - heatmap size: [W, H]

    Encoded:

        - heatmaps (np.ndarray): The target in shape (K, H, W), one-hot at
            the drawn cell, or the bilinear four-cell map with
            ``expected=True``. Over instances the maximum is taken
        - keypoint_weights (np.ndarray): The target weights in shape (N, K).
            0 for keypoints that are invisible (visibility <= 0 or
            non-finite, with a warning for the latter), NaN/inf, or outside
            ``[0, W-1] x [0, H-1]`` in heatmap coordinates. The outer half
            cell is excluded on purpose: there one rounding direction would
            leave the map, and clamping it would bias the target

    Random draws come from a private ``numpy`` generator derived lazily from
    ``torch.initial_seed()``, the distributed rank and the training epoch
    (the ``epoch`` that MMEngine's ``RuntimeInfoHook`` publishes in the
    ``MessageHub``; 0 outside a runner). MMEngine's ``set_random_seed`` sets
    the torch seed in the main process, and inside a DataLoader worker it is
    ``base_seed + worker_id``, or MMEngine's per-worker seed after its
    ``worker_init_fn``. The generator is re-derived whenever that key changes
    (a new epoch, or a fresh worker that inherited a copy of the codec), so
    the same seed reproduces the same targets and different seeds, workers,
    ranks or epochs draw different streams. Because the epoch and the seed
    are what MMEngine restores on ``--resume``, a run resumed at an epoch
    boundary draws the same roundings as the straight run, with
    ``num_workers=0`` or non-persistent workers (forked after the epoch is
    published). Persistent workers keep the epoch they were started in, so
    they continue one stream across epochs: still fresh roundings every
    epoch, but a resumed run draws other ones (as MMPose's own random
    transforms do in persistent workers). A private generator also keeps the
    targets independent of how many draws other transforms take from the
    global RNGs.

    Args:
        input_size (tuple): Image size in [w, h]
        heatmap_size (tuple): Heatmap size in [W, H]; must divide
            ``input_size``
        topk (int): Number of top logits used by :meth:`decode`, in
            ``[1, W*H]``. Defaults to 9, as in every released H3R config
        expected (bool): Encode the deterministic bilinear expected map
            instead of a random one-hot draw (for analysis and ablation).
            Defaults to ``False``

    .. _`Heatmap Regression via Randomized Rounding`:
        https://arxiv.org/abs/2009.00225
    """

    label_mapping_table = dict(keypoint_weights='keypoint_weights', )
    field_mapping_table = dict(heatmaps='heatmaps', )

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 topk: int = 9,
                 expected: bool = False) -> None:
        super().__init__()
        W, H = heatmap_size
        if any(i % h for i, h in zip(input_size, heatmap_size)):
            raise ValueError(
                f'H3RHeatmap: heatmap_size {tuple(heatmap_size)} must divide '
                f'input_size {tuple(input_size)} so that every cell spans a '
                'whole number of pixels; choose e.g. heatmap_size = '
                'input_size // 4')
        if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) \
                or not 1 <= topk <= W * H:
            raise ValueError(
                f'H3RHeatmap: topk={topk!r} must be an integer in '
                f'[1, {W * H}] (the number of heatmap cells); set topk=9 '
                'as in the paper')
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.topk = int(topk)
        self.expected = expected
        self.scale_factor = (np.array(input_size) /
                             heatmap_size).astype(np.float32)
        self._rng = None
        self._rng_seed = None

    @property
    def rng(self) -> np.random.Generator:
        """The generator of the current process and epoch; see the class
        docstring."""
        epoch = MessageHub.get_current_instance().get_info('epoch')
        seed = (torch.initial_seed(), get_rank(), int(epoch or 0))
        if seed != self._rng_seed:
            self._rng = np.random.default_rng(seed)
            self._rng_seed = seed
        return self._rng

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints into H3R heatmaps. The keypoint coordinates are
        in the input image space.

        Args:
            keypoints (np.ndarray): Keypoint coordinates in shape (N, K, D)
            keypoints_visible (np.ndarray): Keypoint visibilities in shape
                (N, K) or (N, K, 1)

        Returns:
            dict:
            - heatmaps (np.ndarray): The generated heatmap in shape
                (K, H, W) where [W, H] is the `heatmap_size`
            - keypoint_weights (np.ndarray): The target weights in shape
                (N, K)
        """
        keypoints = np.asarray(keypoints)
        N, K = keypoints.shape[:2]
        W, H = self.heatmap_size
        visible = sanitize_visibility(keypoints_visible, (N, K),
                                      'H3RHeatmap')

        uv = keypoints[..., :2].astype(np.float64) / self.scale_factor
        finite = finite_coordinates(uv, visible, 'H3RHeatmap')
        with np.errstate(invalid='ignore'):
            valid = (visible > 0) & finite & np.all(
                (uv >= 0) & (uv <= (W - 1, H - 1)), axis=-1)
        if self.expected:
            heatmaps = generate_bilinear_heatmaps(self.heatmap_size, uv,
                                                  valid)
        else:
            heatmaps = generate_rounded_heatmaps(self.heatmap_size, uv,
                                                 valid, self.rng)

        keypoint_weights = valid.astype(np.float32)
        # max over zero instances would raise; no instance, no target
        return dict(heatmaps=heatmaps.max(axis=0, initial=0.),
                    keypoint_weights=keypoint_weights)

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode keypoint coordinates from heatmap logits by the top-k
        softmax expectation, in float64: the :meth:`batch_decode` of a batch
        of one. The decoded coordinates are in the input image space.

        Args:
            encoded (np.ndarray): Logits in shape (K, H, W)

        Returns:
            tuple:
            - keypoints (np.ndarray): Decoded keypoint coordinates in shape
                (N, K, D); NaN for a non-finite map
            - scores (np.ndarray): The keypoint scores in shape (N, K):
                the sigmoid of the largest logit, i.e. the probability the
                default per-pixel BCE loss assigns to the most likely cell;
                0 for a non-finite map
        """
        keypoints, scores = self.batch_decode(
            numpy_batch_of_one(encoded, np.float64))
        return keypoints[0], scores[0]

    def batch_decode(self, batch_encoded: Tensor
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch of logits on their device, in their dtype (float32
        for other than float64), as :meth:`decode`.

        Args:
            batch_encoded (Tensor): Logits in shape (B, K, H, W)

        Returns:
            tuple:
            - batch_keypoints (List[np.ndarray]): Each element is keypoint
                coordinates in shape (N, K, D)
            - batch_scores (List[np.ndarray]): Each element is keypoint
                scores in shape (N, K)
        """
        logits = batch_encoded.detach()
        if logits.dtype not in (torch.float32, torch.float64):
            logits = logits.float()
        keypoints, scores = self.decode_tensors(logits)
        keypoints = keypoints.float().cpu().numpy()[:, None]
        scores = scores.float().cpu().numpy()[:, None]
        return list(keypoints), list(scores)

    def decode_tensors(self, logits: Tensor) -> Tuple[Tensor, Tensor]:
        """The decoding behind :meth:`decode` and :meth:`batch_decode`, on
        (B, K, H, W) tensors and in their dtype, traceable for ONNX export:
        :func:`decode_topk_tensors` with this codec's settings.

        Returns:
            tuple: keypoints (B, K, 2) in input pixels and scores (B, K)
        """
        return decode_topk_tensors(logits, self.topk,
                                   self.scale_factor.tolist())
