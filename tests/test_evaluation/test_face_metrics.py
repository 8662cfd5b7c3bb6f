"""FailureRateAUC: failure rate and CED area over per-image NME."""
import numpy as np
import pytest
from mmengine.evaluator import Evaluator
from mmpose.registry import METRICS

import hih_plugin  # noqa: F401  registers FailureRateAUC
from hih_plugin.evaluation.face_metrics import FailureRateAUC, failure_rate_auc

# Four images whose NMEs are 0.02, 0.05, 0.08 and 0.20, at thr = 0.10.
#   FR@10: only 0.20 is above 0.10 -> 1/4.
#   CED(e) = share of images with NME <= e is a step function on [0, 0.1]:
#     0 on [0.00, 0.02),  1/4 on [0.02, 0.05),  2/4 on [0.05, 0.08),
#     3/4 on [0.08, 0.10].
#   Area = 1/4 * 0.03 + 2/4 * 0.03 + 3/4 * 0.02 = 0.0075 + 0.015 + 0.015
#        = 0.0375;  AUC@10 = 0.0375 / 0.10 = 0.375.
ERRORS = [0.02, 0.05, 0.08, 0.20]
FR_BY_HAND, AUC_BY_HAND = 0.25, 0.375


def _sample(nme, norm=10.0):
    """One face with K=4: two 'eye corners' ``norm`` px apart, one landmark
    off by 3*nme*norm px (so the 3 visible landmarks average to ``nme``),
    and one invisible landmark off by 1000 px that must not count."""
    gt = np.array([[[0, 0], [norm, 0], [5, 5], [20, 20]]], dtype=np.float32)
    pred = gt.copy()
    pred[0, 2, 0] += 3 * nme * norm
    pred[0, 3] += 1000
    half = norm / 2  # a square box of side ``norm`` for bbox_size mode
    return dict(
        pred_instances=dict(keypoints=pred),
        gt_instances=dict(
            keypoints=gt,
            keypoints_visible=np.array([[1, 1, 1, 0]], dtype=np.float32),
            bboxes=np.array([[5 - half, 5 - half, 5 + half, 5 + half]],
                            dtype=np.float32)))


def _evaluate(metric_cfgs, samples):
    # built from MMPose's registry, as a config with default_scope='mmpose'
    evaluator = Evaluator([METRICS.build(cfg) for cfg in metric_cfgs])
    evaluator.dataset_meta = dict(
        dataset_name='toy', keypoint_id2name={i: str(i)
                                              for i in range(4)})
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


def test_hand_worked_example():
    fr, auc = failure_rate_auc(np.array(ERRORS), thr=0.1)
    assert fr == pytest.approx(FR_BY_HAND)
    assert auc == pytest.approx(AUC_BY_HAND)
    # an image exactly at the threshold is not a failure (CED(thr) = 1 - FR)
    assert failure_rate_auc(np.array([0.1]), thr=0.1) == (0.0, 0.0)


@pytest.mark.parametrize('norm_kwargs', [
    dict(norm_mode='keypoint_distance', keypoint_indices=[0, 1]),
    dict(norm_mode='use_norm_item', norm_item='bbox_size'),
])
def test_metric_next_to_nme(norm_kwargs):
    """Through MMEngine's Evaluator with NME beside it, both normalisations:
    per-image errors are normalised as NME does, keys do not clash."""
    samples = [_sample(e) for e in ERRORS]
    results = _evaluate([
        dict(type='NME', **norm_kwargs),
        dict(type='FailureRateAUC', **norm_kwargs)
    ], samples)
    assert set(results) == {'NME', 'FR@10', 'AUC@10'}
    assert results['NME'] == pytest.approx(np.mean(ERRORS), rel=1e-5)
    assert results['FR@10'] == pytest.approx(FR_BY_HAND)
    assert results['AUC@10'] == pytest.approx(AUC_BY_HAND, rel=1e-5)


def test_exact_auc_matches_dense_integration():
    """The closed form equals the CED integral taken numerically."""
    errors = np.random.default_rng(0).gamma(2.0, 0.03, size=200)
    thr = 0.08
    grid = np.linspace(0, thr, 200001)
    ced = (errors[None, :] <= grid[:, None]).mean(axis=1)
    # rectangle rule on a fine grid; the step function makes it O(1/grid)
    dense = ced[:-1].sum() * (grid[1] - grid[0]) / thr
    assert failure_rate_auc(errors, thr)[1] == pytest.approx(dense, abs=1e-4)


def test_default_indices_and_key_names():
    metric = FailureRateAUC(norm_mode='keypoint_distance', thr=0.08)
    metric.dataset_meta = dict(dataset_name='wflw')
    gt = np.zeros((1, 98, 2), dtype=np.float32)
    gt[0, 72, 0] = 100.0  # outer eye corners 60 and 72, 100 px apart
    pred = gt + np.array([3.0, 4.0], dtype=np.float32)  # 5 px -> NME 0.05
    metric.results = [
        dict(pred_coords=pred, gt_coords=gt,
             mask=np.ones((1, 98), dtype=bool))
    ]
    out = metric.compute_metrics(metric.results)
    assert out == pytest.approx({'FR@8': 0.0, 'AUC@8': 1 - 0.05 / 0.08})
    # the per-image NMEs stay on the metric, for a CED curve
    assert metric.errors == pytest.approx([0.05])


def test_image_without_visible_keypoints_is_left_out():
    empty = _sample(0.5)
    empty['gt_instances']['keypoints_visible'][:] = 0
    results = _evaluate([
        dict(type='FailureRateAUC', norm_mode='keypoint_distance',
             keypoint_indices=[0, 1])
    ], [_sample(e) for e in ERRORS] + [empty])
    assert results['FR@10'] == pytest.approx(FR_BY_HAND)


def test_bad_threshold():
    with pytest.raises(ValueError, match='thr must be > 0'):
        FailureRateAUC(norm_mode='keypoint_distance', thr=0)
