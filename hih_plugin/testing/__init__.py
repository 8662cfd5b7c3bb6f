"""Synthetic landmark data, drawn so that the ground truth is exact: faces
with WFLW's 98 landmarks (:mod:`.faces`) and stick figures with COCO's or
MPII's keypoints (:mod:`.people`), written in each dataset's format.

``tools/make_demo_data.py`` writes whole datasets with it for the quick
start; the tests and the benchmarks draw from it too. Like MMPose's
``mmpose.testing`` it serves tests and tools: the library never imports it
(tests/test_layers.py checks that).
"""
from .drawing import write_json
from .faces import (draw_face, face_annotation, face_template, make_split,
                    random_pose, render)
from .people import write_people

__all__ = [
    'draw_face', 'face_annotation', 'face_template', 'make_split',
    'random_pose', 'render', 'write_json', 'write_people'
]
