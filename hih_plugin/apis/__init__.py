"""Inference helpers around the models: finding faces for the top-down
face models, without weights to download."""
from .face_detection import HaarFaceDetector

__all__ = ['HaarFaceDetector']
