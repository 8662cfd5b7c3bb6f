"""Drawn faces with WFLW's 98 landmarks, written in WFLW's format.

Every structure of the face (jaw, brows, nose, eyes with pupils, lips) is
drawn from the landmarks with sub-pixel, anti-aliased strokes, under a
random pose, scale, aspect and expression, so the ground truth is where the
image says it is.
"""
import os
import os.path as osp

import cv2
import numpy as np

from .drawing import SHIFT, fixed_point, render_background, write_json

NUM_KEYPOINTS = 98


def _ellipse(cx, cy, rx, ry, angles):
    """Points on an ellipse; angles in radians, y pointing down."""
    a = np.asarray(angles, np.float64)
    return np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], axis=1)


def face_template(rng):
    """98 WFLW landmarks in a face frame (x right, y down, jaw half-width 1),
    with a random expression."""
    pts = np.zeros((NUM_KEYPOINTS, 2))
    # 0-32: jaw from the image-left temple, over the chin (16), to the right.
    chin = rng.uniform(1.05, 1.25)
    a = np.deg2rad(np.linspace(190, 350, 33))
    pts[0:33] = np.stack([np.cos(a), -0.1 - chin * np.sin(a)], axis=1)
    # Brows: 33-37 upper edge outer->inner, 38-41 lower edge inner->outer of
    # the image-left brow; 42-46 upper inner->outer, 47-50 lower outer->inner
    # of the right one.
    raise_ = rng.uniform(-0.05, 0.08)
    bx = np.linspace(-0.8, -0.15, 5)
    upper = np.stack([bx, -0.58 - raise_ - 0.08 * np.sin(
        np.linspace(0.3, 2.6, 5))], axis=1)
    lower = np.stack([bx[1:][::-1], upper[1:][::-1, 1] + 0.08], axis=1)
    pts[33:38], pts[38:42] = upper, lower
    pts[42:47] = upper[::-1] * [-1, 1]
    pts[47:51] = lower[::-1] * [-1, 1]
    # Nose: 51-54 bridge top->tip, 55-59 base left->right.
    pts[51:55] = np.stack([np.zeros(4), np.linspace(-0.35, 0.12, 4)], axis=1)
    pts[55:60] = np.stack([np.linspace(-0.2, 0.2, 5),
                           0.22 + 0.05 * np.cos(np.linspace(-1.3, 1.3, 5))],
                          axis=1)
    # Eyes: 60 outer corner, 61-63 upper lid, 64 inner corner, 65-67 lower
    # lid (left); 68 inner, 69-71 upper, 72 outer, 73-75 lower (right).
    open_ = rng.uniform(0.05, 0.12)
    phis = np.pi - np.arange(8) * np.pi / 4
    pts[60:68] = _ellipse(-0.42, -0.3, 0.2, open_, phis)
    pts[68:76] = _ellipse(0.42, -0.3, 0.2, open_, phis)
    # Mouth: 76 left corner, 77-81 upper lip, 82 right corner, 83-87 lower
    # lip right->left; inner 88 left, 89-91 upper, 92 right, 93-95 lower.
    gap = rng.uniform(0.0, 0.15)
    mw, my = rng.uniform(0.28, 0.4), 0.58
    ux = np.linspace(-mw, mw, 7)[1:-1]
    pts[76] = (-mw, my)
    pts[77:82] = np.stack([ux, my - 0.08 - gap / 2 + 0.03 * np.cos(
        np.pi * ux / mw * 2) * (np.abs(ux) < mw * 0.5)], axis=1)
    pts[82] = (mw, my)
    pts[83:88] = np.stack([ux[::-1], my + 0.1 + gap / 2 - 0.04 * (
        ux[::-1] / mw) ** 2], axis=1)
    iw = mw * 0.75
    ix = np.linspace(-iw, iw, 5)[1:-1]
    pts[88] = (-iw, my)
    pts[89:92] = np.stack([ix, np.full(3, my - gap / 2 - 0.01)], axis=1)
    pts[92] = (iw, my)
    pts[93:96] = np.stack([ix[::-1], np.full(3, my + gap / 2 + 0.01)], axis=1)
    # Pupils, with a common gaze offset inside the eye.
    gaze = rng.uniform(-1, 1, 2) * [0.06, open_ * 0.3]
    pts[96] = (-0.42, -0.3) + gaze
    pts[97] = (0.42, -0.3) + gaze
    return pts + rng.normal(0, 0.008, pts.shape)


def random_pose(pts, image_size, rng):
    """Rotate, scale (anisotropically) and place the face in the image."""
    rot = np.deg2rad(rng.uniform(-30, 30))
    half_width = rng.uniform(0.18, 0.27) * image_size
    aspect = rng.uniform(0.9, 1.15)
    R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    p = (pts * [half_width, half_width * aspect]) @ R.T
    lo, hi = p.min(0), p.max(0)
    margin = 0.06 * image_size
    offset = [rng.uniform(margin - lo[i], image_size - margin - hi[i])
              for i in range(2)]
    return p + offset


def render(kpts, image_size, rng):
    """Draw the face from its landmarks, anti-aliased at sub-pixel accuracy."""
    img = render_background(image_size, image_size, rng)

    def fill(pts, color):
        cv2.fillPoly(img, [fixed_point(pts)], color, cv2.LINE_AA, SHIFT)

    def line(pts, color, thick, closed=False):
        cv2.polylines(img, [fixed_point(pts)], closed, color, thick,
                      cv2.LINE_AA, SHIFT)

    skin = tuple(int(v) for v in rng.uniform(110, 230, 3))
    dark = tuple(int(v) for v in rng.uniform(10, 50, 3))
    # Face: the jaw, closed over the forehead by an arc above the brows.
    jaw = kpts[0:33]
    mid = (jaw[0] + jaw[32]) / 2
    up = kpts[51] - kpts[54]  # nose bridge points to the forehead
    up = up / (np.linalg.norm(up) + 1e-9)
    half = (jaw[32] - jaw[0]) / 2
    a = np.linspace(0, np.pi, 16)
    forehead = mid + np.cos(a)[:, None] * half + \
        np.sin(a)[:, None] * up * np.linalg.norm(half) * 1.3
    fill(np.concatenate([jaw, forehead[1:-1]]), skin)
    line(jaw, dark, 1)
    fill(np.concatenate([kpts[33:38], kpts[38:42]]), dark)
    fill(np.concatenate([kpts[42:47], kpts[47:51]]), dark)
    line(kpts[51:55], dark, 1)
    line(kpts[55:60], dark, 1)
    for eye, pupil in ((kpts[60:68], kpts[96]), (kpts[68:76], kpts[97])):
        fill(eye, (235, 235, 235))
        radius = 0.45 * np.linalg.norm(eye[2] - eye[6])
        centre = tuple(int(v) for v in fixed_point(pupil))
        cv2.circle(img, centre, int(radius * (1 << SHIFT)),
                   dark, -1, cv2.LINE_AA, SHIFT)
        line(eye, dark, 1, closed=True)
    lip = tuple(int(v) for v in rng.uniform([120, 30, 30], [220, 90, 90]))
    fill(kpts[76:88], lip[::-1])  # BGR
    fill(kpts[88:96], (40, 20, 20))
    line(kpts[76:88], dark, 1, closed=True)
    # Mild blur and noise, so the strokes are not the only cue.
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def face_annotation(kpts, img_id, ann_id):
    """One face in WFLW's COCO-style annotation format."""
    x0, y0 = kpts.min(0)
    x1, y1 = kpts.max(0)
    w, h = x1 - x0, y1 - y0
    kp = np.concatenate([kpts, np.full((len(kpts), 1), 2.)], 1)
    return dict(
        image_id=img_id, id=ann_id,
        keypoints=[round(float(v), 4) for v in kp.ravel()],
        num_keypoints=len(kpts),
        bbox=[round(float(v), 4) for v in (x0, y0, w, h)],
        iscrowd=0, area=round(float(w * h), 4), category_id=1,
        # WFLW's convention: box side / 200 around the box centre;
        # GetBBoxCenterScale then pads it by 1.25.
        center=[round(float(x0 + w / 2), 4), round(float(y0 + h / 2), 4)],
        scale=round(float(max(w, h) / 200.), 4))


def draw_face(image_size, rng):
    """One image with one drawn face: (image, its 98 landmarks)."""
    kpts = random_pose(face_template(rng), image_size, rng)
    return render(kpts, image_size, rng), kpts


def make_split(out_dir, split, num, image_size, rng, first_id):
    """Draw ``num`` faces as ``out_dir/images/<split>/*.png`` and write
    their annotations, with image ids from ``first_id``, to
    ``out_dir/annotations/face_landmarks_wflw_<split>.json`` (WFLW's
    layout); returns that path."""
    img_dir = osp.join(out_dir, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        img, kpts = draw_face(image_size, rng)
        name = f'{split}/{i:06d}.png'
        cv2.imwrite(osp.join(out_dir, 'images', name), img)
        img_id = first_id + i
        images.append(dict(id=img_id, file_name=name, height=image_size,
                           width=image_size))
        annotations.append(face_annotation(kpts, img_id, img_id))
    categories = [
        dict(supercategory='person', id=1, name='face',
             keypoints=[f'kpt-{k}' for k in range(NUM_KEYPOINTS)],
             skeleton=[])
    ]
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    path = osp.join(ann_dir, f'face_landmarks_wflw_{split}.json')
    write_json(path, dict(images=images, annotations=annotations,
                          categories=categories))
    return path
