"""Boxing faces again around the landmarks a model found."""
import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from hih_plugin.apis import landmark_boxes, rebox_topdown


def test_landmark_boxes_span_the_finite_landmarks():
    kpts = np.array([[[1., 2.], [5., 3.], [np.nan, 9.], [4., 7.]],
                     [[np.nan, np.nan]] * 4])
    boxes = landmark_boxes(kpts)
    np.testing.assert_array_equal(boxes[0], [1., 2., 5., 7.])
    assert np.isnan(boxes[1]).all()


class FakeModel:
    """Records the boxes it is given and 'finds' landmarks at the corners
    of a box shrunk by ``shrink`` towards its centre, or NaN ones."""

    def __init__(self, shrink=0.5, nan=False):
        self.calls, self.shrink, self.nan = [], shrink, nan

    def __call__(self, model, img, boxes):
        assert model is self and img.shape == (20, 30, 3)
        self.calls.append(np.array(boxes))
        out = []
        for x1, y1, x2, y2 in boxes:
            c, h = np.array([x1 + x2, y1 + y2]) / 2, np.array(
                [x2 - x1, y2 - y1]) * self.shrink / 2
            kpts = np.array([c - h, c + h, [c[0] - h[0], c[1] + h[1]]])
            sample = PoseDataSample()
            sample.pred_instances = InstanceData(
                keypoints=np.full((1, 3, 2), np.nan) if self.nan else
                kpts[None])
            out.append(sample)
        return out


@pytest.mark.parametrize('passes', [1, 2, 3])
def test_each_pass_boxes_the_landmarks_of_the_last(monkeypatch, passes):
    model = FakeModel()
    monkeypatch.setattr('mmpose.apis.inference_topdown', model)
    boxes = np.array([[0., 0., 16., 8.], [10., 4., 14., 12.]])
    results = rebox_topdown(model, np.zeros((20, 30, 3)), boxes, passes)
    assert len(model.calls) == passes
    np.testing.assert_allclose(model.calls[0], boxes)
    for before, after in zip(model.calls, model.calls[1:]):
        centre = (before[:, :2] + before[:, 2:]) / 2
        half = (before[:, 2:] - before[:, :2]) / 4
        np.testing.assert_allclose(
            after, np.concatenate([centre - half, centre + half], 1))
    assert len(results) == 2


@pytest.mark.parametrize('fake', [FakeModel(nan=True), FakeModel(shrink=0.)])
def test_a_face_without_a_usable_landmark_box_keeps_its_box(monkeypatch,
                                                            fake):
    monkeypatch.setattr('mmpose.apis.inference_topdown', fake)
    boxes = np.array([[0., 0., 16., 8.]])
    rebox_topdown(fake, np.zeros((20, 30, 3)), boxes, passes=2)
    np.testing.assert_allclose(fake.calls[1], boxes)


def test_a_score_column_is_dropped(monkeypatch):
    model = FakeModel()
    monkeypatch.setattr('mmpose.apis.inference_topdown', model)
    rebox_topdown(model, np.zeros((20, 30, 3)),
                  np.array([[0., 0., 16., 8., 0.9]]), passes=1)
    np.testing.assert_allclose(model.calls[0], [[0., 0., 16., 8.]])


def test_passes_below_one_is_an_error():
    with pytest.raises(ValueError, match='passes=0'):
        rebox_topdown(None, np.zeros((2, 2, 3)), np.zeros((1, 4)), passes=0)
