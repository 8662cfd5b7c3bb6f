"""Failure rate and AUC over per-image NME, the companions of NME that face
alignment papers report and MMPose lacks.

``FailureRateAUC`` subclasses MMPose's :class:`~mmpose.evaluation.NME`: it
collects the same per-sample data (``NME.process``) and normalises each error
the same way (inter-ocular distance from ``keypoint_indices``, or a per-sample
``norm_item`` such as AFLW's ``bbox_size``). Only the reduction differs: NME
averages over all keypoints of all images, this metric first takes each
image's own NME and then looks at their distribution.
"""
import logging
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmpose.evaluation.functional.keypoint_eval import _calc_distances
from mmpose.evaluation.metrics import NME
from mmpose.registry import METRICS


def per_image_nme(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                  norm_factor: np.ndarray) -> np.ndarray:
    """NME of each image, normalised exactly as MMPose's ``keypoint_nme``.

    Args:
        pred, gt (np.ndarray[N, K, 2]): predicted and true keypoints.
        mask (np.ndarray[N, K]): True for keypoints that count.
        norm_factor (np.ndarray[N, 2]): per-image normaliser.

    Returns:
        np.ndarray[M]: one NME per image that has a countable keypoint;
        images with none (all invisible, or a zero normaliser) are left
        out, as ``keypoint_nme`` leaves their keypoints out.
    """
    # _calc_distances is what keypoint_nme itself is built on, so both
    # metrics drop the same keypoints; it writes into norm_factor, so copy.
    dist = _calc_distances(pred, gt, mask, norm_factor.astype(np.float64))
    valid = dist != -1  # [K, N]
    count = valid.sum(axis=0)
    total = np.where(valid, dist, 0).sum(axis=0)
    keep = count > 0
    return total[keep] / count[keep]


def failure_rate_auc(errors: np.ndarray, thr: float):
    """Failure rate and normalised CED area at ``thr``.

    An image fails when its NME is above ``thr``. The cumulative error
    distribution ``CED(e) = #{i: e_i <= e} / N`` is a step function, and
    integrating each image's step exactly gives
    ``AUC = (1/thr) * integral_0^thr CED(e) de = mean(max(0, 1 - e_i/thr))``,
    with no quadrature error (and no ``scipy.integrate.simps``). A NaN error
    counts as infinite: a failure that adds nothing to the AUC.
    """
    errors = np.asarray(errors, dtype=np.float64)
    # A NaN error (a NaN prediction) is a failure, not a success.
    errors = np.where(np.isnan(errors), np.inf, errors)
    if errors.size == 0:
        return float('nan'), float('nan')
    failure_rate = float(np.mean(errors > thr))
    auc = float(np.mean(np.clip(1.0 - errors / thr, 0.0, None)))
    return failure_rate, auc


@METRICS.register_module()
class FailureRateAUC(NME):
    """Failure rate ``FR@t`` and area under the CED curve ``AUC@t``.

    Both are computed over per-image NME at a threshold ``thr`` (default
    0.10 of the normaliser). Keys name the threshold in percent, as papers
    do: ``FR@10`` and ``AUC@10`` for ``thr=0.1``. Values are fractions in
    [0, 1], like MMPose's ``NME`` (a paper's "FR 2.84%" is ``0.0284``).
    An image with a NaN/inf predicted keypoint is a failure; when there are
    such images, their count is reported as ``non-finite`` (with a
    warning), since MMPose's ``NME`` turns nan. After an evaluation,
    ``errors`` holds its per-image NMEs (for a CED curve).

    Use it next to ``NME`` with the same normalisation arguments::

        val_evaluator = [
            dict(type='NME', norm_mode='keypoint_distance'),
            dict(type='FailureRateAUC', norm_mode='keypoint_distance'),
        ]

    Args:
        norm_mode, norm_item, keypoint_indices: as for MMPose's ``NME``.
        thr (float): failure threshold on per-image NME, and the upper
            limit of the AUC integral. Default: 0.1.
        collect_device, prefix: as for any MMEngine metric.
    """

    def __init__(self,
                 norm_mode: str,
                 norm_item: Optional[str] = None,
                 keypoint_indices: Optional[Sequence[int]] = None,
                 thr: float = 0.1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            norm_mode=norm_mode,
            norm_item=norm_item,
            keypoint_indices=keypoint_indices,
            collect_device=collect_device,
            prefix=prefix)
        if not thr > 0:
            raise ValueError(f'FailureRateAUC: thr must be > 0, got {thr}; '
                             'use e.g. thr=0.1 for FR@10 / AUC@10')
        self.thr = thr

    def _normalize_factors(self, results: list,
                           gt_coords: np.ndarray) -> np.ndarray:
        """[N, 2] normalisers, chosen as ``NME.compute_metrics`` does."""
        if self.norm_mode == 'use_norm_item':
            factor = np.concatenate([r[self.norm_item] for r in results])
            return np.tile(factor, [1, 2])
        if self.keypoint_indices is None:
            name = self.dataset_meta['dataset_name']
            if name not in self.DEFAULT_KEYPOINT_INDICES:
                raise KeyError(
                    f'FailureRateAUC: no default keypoint_indices for '
                    f'dataset "{name}"; set keypoint_indices to the two '
                    'keypoints whose distance normalises the error')
            self.keypoint_indices = self.DEFAULT_KEYPOINT_INDICES[name]
        return self._get_normalize_factor(gt_coords=gt_coords)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        pred = np.concatenate([r['pred_coords'] for r in results])
        gt = np.concatenate([r['gt_coords'] for r in results])
        mask = np.concatenate([r['mask'] for r in results])
        errors = per_image_nme(pred, gt, mask,
                               self._normalize_factors(results, gt))
        # kept for the CED curves of tools/analysis/face_eval.py
        self.errors = errors
        failure_rate, auc = failure_rate_auc(errors, self.thr)
        pct = f'{self.thr * 100:g}'
        metrics = {f'FR@{pct}': failure_rate, f'AUC@{pct}': auc}
        nonfinite = int((~np.isfinite(errors)).sum())
        if nonfinite:
            # MMPose's NME averages them into nan; say how many there were.
            metrics['non-finite'] = nonfinite
            print_log(
                f'FailureRateAUC: {nonfinite} of {len(errors)} images have '
                'non-finite (NaN/inf) predicted keypoints, so NME is nan; '
                f'they count as failures in FR@{pct} and add 0 to '
                f'AUC@{pct}. A model with NaN weights predicts NaN: check '
                'the checkpoint.',
                logger='current', level=logging.WARNING)
        return metrics
