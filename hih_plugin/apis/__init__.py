"""Inference helpers around the models: finding faces for the top-down
face models, without weights to download."""
from .face_detection import HaarFaceDetector, landmark_boxes, rebox_topdown

__all__ = ['HaarFaceDetector', 'landmark_boxes', 'rebox_topdown']
