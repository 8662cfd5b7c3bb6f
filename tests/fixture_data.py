"""Dataset samples the tests generate where the real ones are absent.

Each folder has the layout of ``mmpose_tests_data/<name>`` (the annotation
file ``test_<name>.json`` with its images beside it) and the dataset's own
annotation format, as MMPose's loaders read it; the drawing is
hih_plugin.testing's (tools/make_demo_data.py):

- wflw: COCO-style, 98 landmarks, ``center``/``scale``; 2 images of 2 faces;
- 300w (68), cofw (29), aflw (19, with ``box_size``): those landmarks of a
  drawn WFLW face, in each dataset's order; 2 images of 1 face;
- coco: COCO keypoints (17) and ``test_coco_det_AP_H_56.json``, person
  detections as MMPose's ``bbox_file``; 4 images of 1 to 3 people;
- mpii: MPII's JSON (16 joints, ``center``/``scale``) and its head boxes
  as ``mpii_gt_val.mat`` holds them; 3 images of 1 to 3 people.
"""
import os.path as osp

import numpy as np

from hih_plugin import testing

# Each dataset's landmarks as indices of WFLW's 98, in the dataset's order
# (MMPose's configs/_base_/datasets/<name>.py; left/right pairs mirror).
FACE_POINTS = {
    'wflw': list(range(98)),
    '300w': (list(range(0, 33, 2)) + [33, 34, 35, 36, 37, 42, 43, 44, 45, 46]
             + list(range(51, 60)) +
             [60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75] +
             list(range(76, 96))),
    # brows (outer, inner, upper, lower), eye corners and lids, pupils,
    # nose wings, bridge, tip, mouth corners, lips, chin
    'cofw': [33, 46, 37, 42, 35, 39, 44, 49, 60, 72, 64, 68, 62, 66, 70, 74,
             96, 97, 55, 59, 54, 57, 76, 82, 79, 90, 94, 85, 16],
    # brows (outer, middle, inner), eyes (outer, centre, inner), nose
    # (left, tip, right), mouth (left, centre, right), chin
    'aflw': [33, 35, 37, 42, 44, 46, 60, 96, 64, 68, 97, 72, 55, 54, 59, 76,
             90, 82, 16],
}
FACES_PER_IMAGE = {'wflw': 2}  # the real WFLW sample: 4 faces, 2 images


def write_faces(name, root, rng, size=256):
    import cv2
    images, annotations = [], []
    for img_id in (1, 2):
        drawn = [testing.draw_face(size, rng)
                 for _ in range(FACES_PER_IMAGE.get(name, 1))]
        file_name = f'{name}_{img_id}.jpg'
        cv2.imwrite(osp.join(root, file_name),
                    np.concatenate([img for img, _ in drawn], axis=1))
        images.append(dict(id=img_id, file_name=file_name, height=size,
                           width=size * len(drawn)))
        for n, (_, kpts) in enumerate(drawn):
            ann = testing.face_annotation(
                kpts[FACE_POINTS[name]] + (n * size, 0), img_id,
                img_id * 10 + n)
            if name == 'cofw':  # COFWDataset reads the box, not these
                del ann['center'], ann['scale']
            if name == 'aflw':  # AFLW's NME normaliser: the box side
                ann['box_size'] = round(max(ann['bbox'][2:]), 4)
            annotations.append(ann)
    categories = [dict(supercategory='person', id=1, name='face',
                       keypoints=[], skeleton=[])]
    testing.write_json(osp.join(root, f'test_{name}.json'),
                       dict(categories=categories, images=images,
                            annotations=annotations))


def write(name, root, seed=0):
    """Write the sample ``name`` into the existing folder ``root``."""
    rng = np.random.default_rng(seed)
    if name in FACE_POINTS:
        write_faces(name, root, rng)
    elif name == 'coco':
        testing.write_people(
            root, 'coco', 'test', 4, 256, rng, 1, '',
            osp.join(root, 'test_coco.json'),
            osp.join(root, 'test_coco_det_AP_H_56.json'))
    elif name == 'mpii':
        testing.write_people(root, 'mpii', 'test', 3, 256, rng, 1, '',
                             osp.join(root, 'test_mpii.json'))
    else:
        raise ValueError(f'no generated sample of {name!r}')


def write_300w_folder(root, names, rng, size=160):
    """A 300-W style folder: drawn faces as ``NAME.jpg`` beside ``NAME.pts``
    (68 points, 1-based, as 300-W distributes them)."""
    import cv2
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        img, kpts = testing.draw_face(size, rng)
        cv2.imwrite(str(root / f'{name}.jpg'), img)
        points = '\n'.join(f'{x + 1:.3f} {y + 1:.3f}'
                           for x, y in kpts[FACE_POINTS['300w']])
        (root / f'{name}.pts').write_text(
            f'version: 1\nn_points: 68\n{{\n{points}\n}}\n')
