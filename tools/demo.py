"""Draw a top-down model's keypoints on one image, with MMPose's visualizer.

    python tools/demo.py PHOTO
    python tools/demo.py IMAGE CONFIG CHECKPOINT [--out-file result.png]
        [--bboxes X1 Y1 X2 Y2 [X1 Y1 X2 Y2 ...]]
        [--det-config DET_CONFIG --det-checkpoint DET_CHECKPOINT]
    python tools/demo.py IMAGE MODEL.onnx [--out-file result.png]
        [--bboxes X1 Y1 X2 Y2 [X1 Y1 X2 Y2 ...]]

With a photograph alone, the model of ``model_zoo/hih-local_lfpw`` draws 68
landmarks on every face that OpenCV's Haar cascade finds (its weights carry
the 300-W annotations' terms: non-commercial research only). The third form
runs a model exported by tools/deploy/export_onnx.py in onnxruntime
(docs/deploy.md). The drawing goes to ``--out-file``, by default
``<image name>_landmarks.png`` in the current folder.

Boxes, in this order of precedence: the ``--bboxes`` given (pixels, x1 y1 x2
y2); those an MMDetection detector finds (class ``--det-cat-id`` with score
above ``--bbox-thr``, after NMS); for a face model, the faces the Haar
cascade finds (``hih_plugin.apis.HaarFaceDetector``, ``--face-detector``);
else the whole image, which the tool says. A face model runs again on the
box around the landmarks it found in a detector's box (``--box-passes``).
A face model with no face found stops with one line; a detector with no box
uses the whole image, as MMPose's own demos do, and says so.
"""
import os
import os.path as osp
import sys

# albumentations, which mmpose imports, checks for updates online
if 'NO_ALBUMENTATIONS_UPDATE' not in os.environ:
    os.environ['NO_ALBUMENTATIONS_UPDATE'] = '1'

import numpy as np

import hih_plugin  # noqa: F401  registers codecs, models and metrics
from hih_plugin.checkpoint import enable_safe_loader
from hih_plugin.cli import (ArgumentParser, add_cfg_options, cli_main,
                            load_config, number)
from hih_plugin.cli.checks.meta import checked_meta
from hih_plugin.cli.checks.model import load_checkpoint_strict
from hih_plugin.cli.files import check_regular_file
from hih_plugin.cli.outputs import atomic_path, check_output_file
from hih_plugin.datasets.image_check import image_size_problem
from hih_plugin.errors import UserError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The model used with a photograph alone: trained on real faces (LFPW, 300-W
# annotations), model_zoo/hih-local_lfpw/README.md.
DEFAULT_CONFIG = 'configs/hih-local_res18-w32_1xb32-240e_lfpw-128x128.py'
DEFAULT_CHECKPOINT = ('model_zoo/hih-local_lfpw/hih-local_res18-w32_lfpw-'
                      '128x128-6e18fd22_20261205.pth')
TERMS = ('its weights were trained on the 300-W annotations, licensed for '
         'non-commercial research only (model_zoo/hih-local_lfpw/README.md)')
# MMPose's face datasets: their models get the face detector's boxes
FACE_DATASETS = ('300w', 'wflw', 'cofw', 'aflw', 'coco_wholebody_face',
                 'lapa', 'face6')
MAX_IMAGE_BYTES = 1 << 30


def add_drawing_args(parser):
    """Options both forms share: the output and how to draw."""
    parser.add_argument('--out-file',
                        help='where to write the drawing (e.g. .png); '
                        'default <image name>_landmarks.png here')
    parser.add_argument(
        '--bboxes', type=number(float), nargs='+', metavar='COORD',
        help='boxes in pixels as x1 y1 x2 y2, four numbers per box')
    parser.add_argument('--kpt-thr', type=number(float, 0, 1), default=0.3,
                        help='keypoint score threshold for drawing')
    parser.add_argument('--radius', type=number(int, 0, 100), default=3,
                        help='keypoint radius for visualization')
    parser.add_argument('--thickness', type=number(int, 0, 100), default=1,
                        help='link thickness for visualization')
    parser.add_argument('--draw-bbox', action='store_true',
                        help='draw the boxes too')


def build_parser():
    parser = ArgumentParser(
        description='Top-down keypoint inference on one image')
    parser.add_argument('image', help='image file (a face or a person)')
    parser.add_argument('config', nargs='?',
                        help=f'pose model config file (default '
                        f'{DEFAULT_CONFIG})')
    parser.add_argument('checkpoint', nargs='?',
                        help='pose model checkpoint file (default: the '
                        "default config's published weights)")
    add_drawing_args(parser)
    parser.add_argument('--det-config', help='MMDetection config for boxes')
    parser.add_argument('--det-checkpoint', help='MMDetection checkpoint')
    parser.add_argument('--det-cat-id', type=number(int, 0), default=0,
                        help='detector class to keep (0: person in COCO)')
    parser.add_argument('--bbox-thr', type=number(float, 0, 1), default=0.3,
                        help='detection score threshold')
    parser.add_argument('--nms-thr', type=number(float, 0, 1), default=0.3,
                        help='IoU threshold of the box NMS')
    parser.add_argument(
        '--face-detector', choices=('haar', 'none'), default='haar',
        help='boxes of a face model without --bboxes or a detector: the '
        'faces an OpenCV Haar cascade finds, or (none) the whole image')
    parser.add_argument(
        '--box-passes', type=number(int, 1), default=2,
        help='for a face model on the boxes of a detector: 1 runs the model '
        'on those boxes, each more pass on the boxes around the landmarks '
        'the last found, the box the model was trained on')
    parser.add_argument('--device', default=None,
                        help='e.g. cpu or cuda:0; default cuda:0 if '
                        'available, else cpu')
    add_cfg_options(
        parser, 'override settings of the pose config, as tools/train.py '
        'does: pass the same overrides the model was trained with')
    return parser


def out_file(args):
    """The drawing's path, checked before any work."""
    if args.out_file is None:
        stem = osp.splitext(osp.basename(args.image))[0]
        args.out_file = f'{stem}_landmarks.png'
    args.out_file = check_output_file(args.out_file, '--out-file')
    return args.out_file


def read_image(path):
    """BGR image array, or a UserError naming why the file is not one: not
    a regular file, too large, more pixels than training allows
    (``HIH_MAX_IMAGE_PIXELS``), or not decodable."""
    import mmcv
    if not osp.exists(path):
        raise UserError(f'image not found: {path}')
    check_regular_file(path, 'the image', MAX_IMAGE_BYTES)
    with open(path, 'rb') as f:
        problem = image_size_problem(f)
        if problem:
            raise UserError(f'image {path} {problem}')
        f.seek(0)
        content = f.read(MAX_IMAGE_BYTES + 1)
    img = None
    if content:
        try:
            img = mmcv.imfrombytes(content, flag='color')
        except Exception:  # noqa: BLE001  decoders raise assorted errors
            img = None
    if img is None or img.size == 0:
        raise UserError(
            f'cannot decode image {path}: the file is empty, truncated or '
            'not an image format OpenCV reads (JPEG, PNG, BMP, ...)')
    return img


def given_boxes(coords, img):
    if len(coords) % 4:
        raise UserError(f'--bboxes takes four numbers per box (x1 y1 x2 '
                        f'y2), got {len(coords)} numbers')
    boxes = np.asarray(coords, dtype=np.float64).reshape(-1, 4)
    h, w = img.shape[:2]
    # A box may reach one image size past each edge (a person cut by the
    # frame); farther than that is no box of this image, and would make the
    # affine crop degenerate.
    reach = max(h, w)
    for box in boxes:
        x1, y1, x2, y2 = box
        if not np.isfinite(box).all() or not (
                -reach <= min(x1, x2) and max(x1, x2) <= w + reach
                and -reach <= min(y1, y2) and max(y1, y2) <= h + reach):
            raise UserError(
                f'box {box.tolist()} is not a box of the {w}x{h} image: '
                'each coordinate must be a finite number, at most one image '
                f'size outside it (x in [{-reach}, {w + reach}], y in '
                f'[{-reach}, {h + reach}])')
        if not (x2 - x1 >= 1 and y2 - y1 >= 1):
            raise UserError(f'box {box.tolist()} is empty: need x1 < x2 and '
                            'y1 < y2, at least one pixel apart')
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise UserError(f'box {box.tolist()} lies outside the '
                            f'{w}x{h} image')
    return boxes.astype(np.float32)


def detect_boxes(args, img, device):
    """Boxes of class ``det_cat_id`` above ``bbox_thr``, after NMS."""
    try:
        from mmdet.apis import inference_detector, init_detector
    except ImportError:
        raise UserError('--det-config needs MMDetection 3.x (mmdet); '
                        'install it or pass --bboxes')
    from mmpose.evaluation.functional import nms
    from mmpose.utils import adapt_mmdet_pipeline

    det_cfg = load_config(args.det_config)
    detector = init_detector(det_cfg, None, device=device)
    ckpt = load_checkpoint_strict(detector, args.det_checkpoint)
    if 'dataset_meta' in ckpt.get('meta', {}):
        detector.dataset_meta = ckpt['meta']['dataset_meta']
    # registry names in the detector's pipeline would otherwise resolve in
    # MMPose's default scope
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)
    pred = inference_detector(detector, img).pred_instances.cpu().numpy()
    dets = np.concatenate((pred.bboxes, pred.scores[:, None]), axis=1)
    dets = dets[np.logical_and(pred.labels == args.det_cat_id,
                               pred.scores > args.bbox_thr)]
    boxes = dets[nms(dets, args.nms_thr), :4] if len(dets) else dets[:, :4]
    if len(boxes):
        print(f'detector: {len(boxes)} box(es) of class {args.det_cat_id} '
              f'above --bbox-thr {args.bbox_thr}')
    else:
        print(f'detector: no box of class {args.det_cat_id} above '
              f'--bbox-thr {args.bbox_thr}; using the whole image as the box')
    return boxes


@cli_main
def main():
    enable_safe_loader()
    if any(a.lower().endswith('.onnx') for a in sys.argv[1:]):
        return onnx_main(sys.argv[1:])
    args = build_parser().parse_args()
    if bool(args.det_config) != bool(args.det_checkpoint):
        raise UserError('--det-config and --det-checkpoint go together')
    if args.bboxes and args.det_config:
        raise UserError('pass either --bboxes or a detector, not both')
    if bool(args.config) != bool(args.checkpoint):
        raise UserError('give a config and its checkpoint, or neither for '
                        'the default face model')
    out_file(args)
    if not args.config:
        args.config, args.checkpoint = (osp.join(ROOT, DEFAULT_CONFIG),
                                        osp.join(ROOT, DEFAULT_CHECKPOINT))
        print(f'model: {DEFAULT_CONFIG}; {TERMS}')

    import torch
    from mmpose.apis import inference_topdown, init_model
    from mmpose.structures import merge_data_samples

    img = read_image(args.image)
    # checked before the model is built
    given = given_boxes(args.bboxes, img) if args.bboxes else None
    device = args.device or ('cuda:0' if torch.cuda.is_available() else
                             'cpu')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('data_mode', 'topdown') != 'topdown':
        raise UserError(f'{args.config} is a {cfg.data_mode} model; this '
                        'demo runs top-down models')
    model = init_model(cfg, None, device=device)
    ckpt = load_checkpoint_strict(model, args.checkpoint)
    meta = checked_meta(ckpt, model.dataset_meta['num_keypoints'],
                        args.checkpoint)
    if meta is not None:
        model.dataset_meta = {**model.dataset_meta, **meta}

    face = model.dataset_meta.get('dataset_name') in FACE_DATASETS
    passes = 1
    if args.bboxes:
        boxes = given
    elif args.det_config:
        boxes = detect_boxes(args, img, device)
        passes = args.box_passes if face else 1
    elif args.face_detector == 'haar' and face:
        boxes, passes = find_faces(img, args.image), args.box_passes
    else:
        print('no boxes given: using the whole image as the one box')
        boxes = None  # inference_topdown takes the whole image
    # an empty array also means the whole image to inference_topdown
    if passes > 1 and boxes is not None and len(boxes):
        from hih_plugin.apis import rebox_topdown
        results = rebox_topdown(model, img, boxes, passes)
    else:
        results = inference_topdown(model, img, boxes)
    results = merge_data_samples(results)

    draw(model.cfg.visualizer, model.dataset_meta, img, results, args)


def find_faces(img, path):
    """The faces OpenCV's Haar cascade finds, as landmark boxes."""
    from hih_plugin.apis import HaarFaceDetector
    boxes = HaarFaceDetector()(img)
    if not len(boxes):
        raise UserError(f'no face found in {path}; pass --bboxes X1 Y1 X2 Y2 '
                        'around each face')
    print(f'face detector: {len(boxes)} face(s)')
    return boxes.astype(np.float32)


def draw(vis_cfg, dataset_meta, img, results, args):
    """Draw ``results`` with MMPose's visualizer to ``args.out_file``."""
    import mmcv
    from mmpose.registry import VISUALIZERS
    vis_cfg = dict(vis_cfg, radius=args.radius, line_width=args.thickness)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.set_dataset_meta(dataset_meta)
    visualizer.add_datasample(
        'result',
        mmcv.bgr2rgb(img),
        data_sample=results,
        draw_gt=False,
        draw_bbox=args.draw_bbox,
        show=False,
        kpt_thr=args.kpt_thr,
        out_file=None)
    with atomic_path(args.out_file) as tmp:
        if not mmcv.imwrite(visualizer.get_image()[..., ::-1], tmp):
            raise UserError(f'cannot write the drawing to {args.out_file}')
    report(results.pred_instances, args.kpt_thr, args.out_file)


def report(pred_instances, kpt_thr, out_file):
    """Say what was drawn: the visualizer skips every keypoint whose score
    is below ``kpt_thr``, which can leave nothing but the image."""
    n = len(pred_instances.keypoints)
    scores = np.asarray(pred_instances.get(
        'keypoints_visible', pred_instances.keypoint_scores))
    drawn = int((scores >= kpt_thr).sum())
    if drawn:
        print(f'{n} instance(s) drawn to {out_file}: {drawn} of '
              f'{scores.size} keypoints scored at least --kpt-thr {kpt_thr}')
        return
    per_instance = ', '.join(f'{s.max():.3g}' for s in scores)
    print(f'warning: no keypoint scored at least --kpt-thr {kpt_thr}, so '
          f'{out_file} shows no keypoints: keypoint scores range from '
          f'{scores.min():.3g} to {scores.max():.3g} (best per instance: '
          f'{per_instance}); lower --kpt-thr to draw them',
          file=sys.stderr)


# Exported models (tools/deploy/export_onnx.py): IMAGE MODEL.onnx, with the
# config's name, crop size, pipeline and dataset read from the file.


def build_onnx_parser():
    parser = ArgumentParser(
        prog='demo.py',
        description='Top-down keypoint inference on one image with a model '
        'exported by tools/deploy/export_onnx.py, in onnxruntime')
    parser.add_argument('image', help='image file (a face or a person)')
    parser.add_argument('model', help='the exported .onnx file')
    add_drawing_args(parser)
    parser.add_argument('--threads', type=number(int, 1, 256), default=None,
                        help='onnxruntime threads (default: all cores)')
    return parser


def onnx_main(argv):
    from hih_plugin.deploy import require_onnx
    args = build_onnx_parser().parse_args(argv)
    out_file(args)
    require_onnx()
    from mmpose.structures import merge_data_samples

    from hih_plugin.deploy.onnx_model import OnnxPoseModel
    img = read_image(args.image)
    model = OnnxPoseModel(args.model, threads=args.threads)
    boxes = given_boxes(args.bboxes, img) if args.bboxes else None
    results = merge_data_samples(model.inference(img, boxes))
    print(f'{args.model}: {model.metadata["config"]}, '
          f'{model.metadata["decoding"]}')
    draw(model.visualizer_cfg(), model.dataset_meta, img, results, args)


if __name__ == '__main__':
    sys.exit(main())
