"""Drawn stick figures with COCO's 17 keypoints or MPII's 16 joints,
written in each dataset's format (with COCO's person detections and MPII's
head boxes)."""
import os
import os.path as osp

import cv2
import numpy as np

from .drawing import SHIFT, fixed_point, render_background, write_json

# A stick figure in a body frame (x right in the image, y down, height 1,
# facing the camera: the person's left is the image's right).
COCO_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
              'left_shoulder', 'right_shoulder', 'left_elbow',
              'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
              'right_hip', 'left_knee', 'right_knee', 'left_ankle',
              'right_ankle')
MPII_NAMES = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
              'left_knee', 'left_ankle', 'pelvis', 'thorax', 'upper_neck',
              'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
              'left_shoulder', 'left_elbow', 'left_wrist')
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
HEAD_RADIUS = 0.065


def person_template(rng):
    """Named joints of a standing or moving person, height about 1."""
    j = dict(head_top=(0, -1.0), upper_neck=(0, -0.82),
             thorax=(0, -0.76), pelvis=(0, -0.42))
    head = np.array((0, -1.0 + HEAD_RADIUS))
    turn = rng.uniform(-0.4, 0.4)  # head turn, moves the face sideways
    j['nose'] = head + (turn * HEAD_RADIUS, 0.2 * HEAD_RADIUS)
    for side, sign in (('left', 1), ('right', -1)):
        j[f'{side}_eye'] = head + ((sign * 0.4 + turn) * HEAD_RADIUS,
                                   -0.15 * HEAD_RADIUS)
        j[f'{side}_ear'] = head + (sign * HEAD_RADIUS, 0)
        shoulder = np.array((sign * 0.12, -0.76))
        hip = np.array((sign * 0.08, -0.42))
        j[f'{side}_shoulder'], j[f'{side}_hip'] = shoulder, hip
        # limb angles from straight down, outwards for this side
        upper, lower = rng.uniform(-0.3, 2.0), rng.uniform(-0.5, 1.0)
        j[f'{side}_elbow'] = shoulder + 0.17 * np.array(
            (sign * np.sin(upper), np.cos(upper)))
        j[f'{side}_wrist'] = j[f'{side}_elbow'] + 0.15 * np.array(
            (sign * np.sin(upper + lower), np.cos(upper + lower)))
        thigh, shin = rng.uniform(-0.35, 0.5), rng.uniform(-0.6, 0.1)
        j[f'{side}_knee'] = hip + 0.21 * np.array(
            (sign * np.sin(thigh), np.cos(thigh)))
        j[f'{side}_ankle'] = j[f'{side}_knee'] + 0.21 * np.array(
            (sign * np.sin(thigh + shin), np.cos(thigh + shin)))
    return {k: np.asarray(v, np.float64) for k, v in j.items()}


LIMBS = [('left_shoulder', 'left_elbow'), ('left_elbow', 'left_wrist'),
         ('right_shoulder', 'right_elbow'), ('right_elbow', 'right_wrist'),
         ('left_hip', 'left_knee'), ('left_knee', 'left_ankle'),
         ('right_hip', 'right_knee'), ('right_knee', 'right_ankle'),
         ('upper_neck', 'thorax')]


def draw_people(num, height, rng):
    """One image of ``num`` people side by side.

    Returns the image and, per person, its joints in image pixels and the
    pixel area of its drawn silhouette.
    """
    width = int(height * 0.6) * num
    img = render_background(height, width, rng)
    mask_all = np.zeros((height, width), np.uint8)
    people = []
    for i in range(num):
        size = rng.uniform(0.6, 0.85) * height
        cx = (i + 0.5) * width / num + rng.uniform(-0.05, 0.05) * height
        top = rng.uniform(0.04 * height, height - 1.02 * size)
        joints = {k: v * size + (cx, top + size)
                  for k, v in person_template(rng).items()}
        # keep every joint, with the head around it, inside the image
        pts = np.stack(list(joints.values()))
        margin = HEAD_RADIUS * size + 2
        shift = [max(0., margin - pts[:, i].min()) -
                 max(0., pts[:, i].max() - (extent - 1 - margin))
                 for i, extent in enumerate((width, height))]
        joints = {k: v + shift for k, v in joints.items()}
        color = tuple(int(v) for v in rng.uniform(30, 220, 3))
        mask = np.zeros_like(mask_all)
        thick = max(2, int(0.045 * size))
        for canvas, value in ((img, color), (mask, 255)):
            torso = [joints[k] for k in ('left_shoulder', 'right_shoulder',
                                         'right_hip', 'left_hip')]
            cv2.fillPoly(canvas, [fixed_point(torso)], value, cv2.LINE_AA,
                         SHIFT)
            for a, b in LIMBS:
                cv2.line(canvas, tuple(fixed_point(joints[a])),
                         tuple(fixed_point(joints[b])), value, thick,
                         cv2.LINE_AA, SHIFT)
            head = (joints['left_ear'] + joints['right_ear']) / 2
            cv2.circle(canvas, tuple(fixed_point(head)),
                       int(HEAD_RADIUS * size * (1 << SHIFT)), value, -1,
                       cv2.LINE_AA, SHIFT)
        people.append(dict(joints=joints, area=int((mask > 127).sum()),
                           head_size=2 * HEAD_RADIUS * size))
    for p in people:  # facial points and joints on top, as small dots
        for k in ('nose', 'left_eye', 'right_eye'):
            cv2.circle(img, tuple(fixed_point(p['joints'][k])), 1 << SHIFT,
                       (20, 20, 20), -1, cv2.LINE_AA, SHIFT)
    return img, people


def person_box(person, width, height):
    """The person's box (x, y, w, h): its joints padded by the head radius,
    clipped to the image."""
    pts = np.stack(list(person['joints'].values()))
    pad = person['head_size'] / 2
    x0, y0 = np.maximum(pts.min(0) - pad, 0)
    x1, y1 = np.minimum(pts.max(0) + pad, (width - 1, height - 1))
    return [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]


def coco_annotation(person, img_id, ann_id, width, height):
    """One person in COCO's keypoint annotation format (all visible)."""
    kpts = np.array([person['joints'][k] for k in COCO_NAMES])
    kp = np.concatenate([kpts, np.full((len(kpts), 1), 2.)], 1)
    x, y, w, h = person_box(person, width, height)
    return dict(
        segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
        num_keypoints=len(COCO_NAMES), area=float(person['area']),
        iscrowd=0, keypoints=[round(float(v), 2) for v in kp.ravel()],
        image_id=img_id, bbox=[x, y, w, h], category_id=1, id=ann_id)


def coco_detections(annotations, rng):
    """Person detections as MMPose's COCO ``bbox_file`` holds them: one
    jittered box per person with a high score, and one low-scored box."""
    dets = []
    for ann in annotations:
        x, y, w, h = ann['bbox']
        jitter = rng.uniform(-0.03, 0.03, 4) * (w, h, w, h)
        dets.append(dict(
            bbox=[round(float(v), 2) for v in
                  np.array([x, y, w, h]) + jitter],
            category_id=1, image_id=ann['image_id'],
            score=round(float(rng.uniform(0.8, 1.0)), 4)))
        dets.append(dict(bbox=[round(float(x), 2), round(float(y), 2),
                               round(float(w / 3), 2),
                               round(float(h / 3), 2)],
                         category_id=1, image_id=ann['image_id'],
                         score=round(float(rng.uniform(0.05, 0.3)), 4)))
    return dets


def coco_file(images, annotations):
    """A COCO person keypoint file of ``images`` and ``annotations``."""
    categories = [dict(supercategory='person', id=1, name='person',
                       keypoints=list(COCO_NAMES), skeleton=COCO_SKELETON)]
    return dict(info=dict(description='hih-plugin synthetic people'),
                licenses=[], images=images, annotations=annotations,
                categories=categories)


def mpii_annotation(person, image):
    """One person in MPII's JSON format, as MMPose's MpiiDataset reads it:
    the box centre and its side / 200 as ``scale``."""
    pts = np.stack(list(person['joints'].values()))
    lo, hi = pts.min(0), pts.max(0)
    return dict(joints=[[round(float(v), 2) for v in person['joints'][k]]
                        for k in MPII_NAMES],
                joints_vis=[1] * len(MPII_NAMES), image=image,
                center=[round(float(v), 2) for v in (lo + hi) / 2],
                scale=round(float(max(hi - lo) / 200.), 4))


def mpii_headboxes(people):
    """``headboxes_src`` of ``mpii_gt_val.mat``: (corner, xy, person)."""
    boxes = np.zeros((2, 2, len(people)))
    for i, person in enumerate(people):
        head = (person['joints']['head_top'] +
                person['joints']['upper_neck']) / 2
        half = person['head_size'] / 2
        boxes[:, :, i] = (head - half, head + half)
    return boxes


def write_people(out_dir, dataset, split, num_images, height, rng,
                 first_id, img_prefix, ann_path, extra_path=None):
    """Draw ``num_images`` images of one to three people each into
    ``out_dir/img_prefix`` and write their annotations in ``dataset``'s
    format (``coco`` or ``mpii``) to ``ann_path``; ``extra_path`` gets the
    person detections (COCO) or the head boxes (MPII)."""
    images, annotations, people_all = [], [], []
    for i in range(num_images):
        img, people = draw_people(int(rng.integers(1, 4)), height, rng)
        img_id = first_id + i
        name = f'{img_id:012d}.jpg' if dataset == 'coco' else \
            f'{img_id:09d}.jpg'
        os.makedirs(osp.join(out_dir, img_prefix), exist_ok=True)
        cv2.imwrite(osp.join(out_dir, img_prefix, name), img)
        h, w = img.shape[:2]
        images.append(dict(id=img_id, file_name=name, height=h, width=w))
        for n, person in enumerate(people):
            if dataset == 'coco':
                annotations.append(coco_annotation(
                    person, img_id, img_id * 10 + n, w, h))
            else:
                annotations.append(mpii_annotation(person, name))
            people_all.append(person)
    if dataset == 'coco':
        write_json(ann_path, coco_file(images, annotations))
        if extra_path:
            write_json(extra_path, coco_detections(annotations, rng))
    else:
        write_json(ann_path, annotations)
        if extra_path:
            from scipy.io import savemat
            savemat(extra_path, {'headboxes_src': mpii_headboxes(people_all)})
    return len(annotations)
