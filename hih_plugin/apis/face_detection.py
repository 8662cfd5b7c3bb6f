"""Faces in a photograph, as boxes a top-down face model takes.

OpenCV's wheel ships Haar cascades, so this detector needs no download.
Its boxes are not the boxes a face model was trained on: 300-W's box (and
WFLW's) is the square around the landmarks, from the eyebrows to the chin,
while a cascade frames a face from the forehead to the mouth's bottom. A
fixed similarity maps one to the other; ``tools/analysis/face_detector.py``
fits it on the LFPW training split and measures the share of faces found
and the landmarks' error on the validation split with either box. Boxing
each face again around the landmarks found in the mapped box
(:func:`rebox_topdown`) gives the model the box it was trained on.
"""
import os.path as osp
from typing import Sequence

import numpy as np

# The cascade, the longest side an image is searched at, and the mapping
# from a detection (x, y, side) to the landmark square: its centre at
# (x + CX * side, y + CY * side), its side SIDE * side; fitted by
# tools/analysis/face_detector.py on the LFPW training list (docs/faces.md).
# The default cascade found the most validation faces (95.6%, against 90.0%
# and 91.2% for alt and alt2), docs/results/face_detector/results.md.
CASCADE = 'haarcascade_frontalface_default.xml'
SEARCH_SIDE = 800
CX, CY, SIDE = 0.504, 0.658, 0.868


class HaarFaceDetector:
    """Frontal faces by an OpenCV Haar cascade.

    Args:
        cascade (str): A cascade file of ``cv2.data.haarcascades``
        search_side (int): Images are searched shrunk to at most this
            longer side (the boxes are returned in the image's pixels)
        min_neighbors (int): OpenCV's ``minNeighbors``: more finds fewer
            faces and fewer false ones
        mapping (Sequence[float]): ``(cx, cy, side)`` of the detection to
            landmark-box mapping described above
    """

    def __init__(self, cascade: str = CASCADE, search_side: int = SEARCH_SIDE,
                 min_neighbors: int = 4,
                 mapping: Sequence[float] = (CX, CY, SIDE)) -> None:
        import cv2
        path = osp.join(cv2.data.haarcascades, cascade)
        self.classifier = cv2.CascadeClassifier(path)
        if self.classifier.empty():
            raise ValueError(f'HaarFaceDetector: cannot load {path}')
        self.search_side = search_side
        self.min_neighbors = min_neighbors
        self.mapping = tuple(float(v) for v in mapping)

    def detect(self, img: np.ndarray) -> np.ndarray:
        """The cascade's own boxes (N, 4) as x, y, w, h in image pixels."""
        import cv2
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 \
            else img
        scale = min(1., self.search_side / max(gray.shape[:2]))
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        side = min(gray.shape[:2])
        found = self.classifier.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
            minSize=(max(20, side // 40), ) * 2)
        return np.asarray(found, np.float64).reshape(-1, 4) / scale

    def landmark_boxes(self, detections: np.ndarray) -> np.ndarray:
        """Detections (N, 4: x, y, w, h) as landmark squares (N, 4: x1, y1,
        x2, y2), the boxes a top-down face model takes."""
        cx, cy, k = self.mapping
        side = detections[:, 2:].mean(1)
        centre = detections[:, :2] + np.stack([cx, cy]) * side[:, None]
        half = 0.5 * k * side[:, None]
        return np.concatenate([centre - half, centre + half], 1)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """Landmark boxes (N, 4: x1, y1, x2, y2) of the faces in ``img``."""
        return self.landmark_boxes(self.detect(img))


def landmark_boxes(keypoints: np.ndarray) -> np.ndarray:
    """The boxes (N, 4: x1, y1, x2, y2) around each instance's keypoints
    (N, K, 2), the box rule of the face datasets; NaN keypoints (from
    non-finite heatmaps) are left out, and an instance with none gets a NaN
    box."""
    keypoints = np.asarray(keypoints, np.float64)
    finite = np.isfinite(keypoints).all(-1, keepdims=True)
    low = np.where(finite, keypoints, np.inf).min(1)
    high = np.where(finite, keypoints, -np.inf).max(1)
    box = np.concatenate([low, high], 1)
    return np.where(finite.any(1), box, np.nan)


def rebox_topdown(model, img: np.ndarray, boxes: np.ndarray,
                  passes: int = 2) -> list:
    """MMPose's ``inference_topdown`` on ``boxes`` (x1, y1, x2, y2), then
    ``passes - 1`` times again on the boxes around the landmarks just found:
    a detector's box only approximates the landmark box a face model was
    trained on.
    A face whose landmarks give no box, or one under a pixel wide, keeps
    its previous one."""
    from mmpose.apis import inference_topdown
    if passes < 1:
        raise ValueError(f'rebox_topdown: passes={passes} must be >= 1')
    # (N, 4) boxes, or (N, 5) with a detector's score column
    boxes = np.atleast_2d(np.asarray(boxes, np.float32))[:, :4]
    results = inference_topdown(model, img, boxes)
    for _ in range(passes - 1):
        found = landmark_boxes(
            np.stack([r.pred_instances.keypoints[0] for r in results]))
        usable = np.isfinite(found).all(1) & (
            found[:, 2:] - found[:, :2] >= 1).all(1)
        boxes = np.where(usable[:, None], found, boxes).astype(np.float32)
        results = inference_topdown(model, img, boxes)
    return results
