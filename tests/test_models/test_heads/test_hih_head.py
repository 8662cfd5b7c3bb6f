"""HIHHead with HIHHourglass: parameter counts, losses, flip test."""
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

import hih_plugin  # noqa: F401

init_default_scope('mmpose')


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize('config, expected', [
    ('hih-t_wflw.py', 9.42e6),
    ('hih-s_wflw.py', 12.60e6),
    ('hih_wflw.py', 18.96e6),
])
def test_parameter_counts_match_official_live_parameters(config, expected):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    model = MODELS.build(cfg.model)
    count = trainable(model)
    assert abs(count - expected) / expected < 0.01, count
    # the decimal branch alone is 5.89 M in every variant
    assert abs(trainable(model.head) - 5.89e6) / 5.89e6 < 0.01


def tiny_codec(**kwargs):
    cfg = dict(type='HIHHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
               decimal_size=4)
    cfg.update(kwargs)
    return cfg


def tiny_model(K=4, stacks=2, codec=None, **head):
    codec = codec or tiny_codec()
    head_cfg = dict(type='HIHHead', in_channels=16, out_channels=K,
                    heatmaps_from_backbone=True, decimal_channels=8,
                    decoder=codec)
    head_cfg.update(head)
    return MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            backbone=dict(type='HIHHourglass', num_keypoints=K,
                          num_stacks=stacks, feat_channels=16, depth=2),
            head=head_cfg,
            test_cfg=dict(flip_test=True, flip_mode='heatmap',
                          shift_heatmap=True)))


def samples(codec_cfg, keypoints, flip_indices):
    """Data samples holding the codec's targets for each keypoint set."""
    codec = KEYPOINT_CODECS.build(codec_cfg)
    out = []
    for kpts in keypoints:
        enc = codec.encode(kpts[None])
        s = PoseDataSample(metainfo=dict(flip_indices=flip_indices,
                                         input_size=codec.input_size))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        s.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']),
            decimal_heatmaps=torch.from_numpy(enc['decimal_heatmaps']),
            keypoint_cells=torch.from_numpy(enc['keypoint_cells']),
            keypoint_offsets=torch.from_numpy(enc['keypoint_offsets']))
        s.gt_instances = InstanceData(keypoints=kpts[None])
        out.append(s)
    return out


def test_init_is_normal_0_001():
    model = tiny_model()
    model.init_weights()
    w = torch.cat([m.weight.flatten() for m in model.modules()
                   if isinstance(m, torch.nn.Conv2d)])
    assert 0.0007 < w.std().item() < 0.0013


def test_loss_and_backward():
    torch.manual_seed(0)
    model = tiny_model()
    rng = np.random.default_rng(0)
    kpts = rng.uniform(4, 60, size=(2, 4, 2)).astype(np.float32)
    data = samples(tiny_codec(), kpts, [1, 0, 3, 2])
    losses = model.loss(torch.rand(2, 3, 64, 64), data)
    assert set(losses) == {'loss_kpt', 'loss_decimal', 'acc_pose'}
    assert losses['loss_decimal'] > 0
    (losses['loss_kpt'] + losses['loss_decimal']).backward()
    grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None for g in grads)


SPAN3 = tiny_codec(decimal_span=3, decimal_size=12)
# every local variant: the one-cell read-out, and the 3-cell one trained at
# the neighbours (with and without votes), at a random one, with joint bins,
# and with a BCE (logit) integer map and the configs' cubed vote weights,
# and its argmax cell picked on blurred scores
LOCAL_VARIANTS = [
    (dict(decimal_mode='local'), None),
    (dict(decimal_mode='local', decimal_bins='joint'), None),
    (dict(decimal_mode='local'), SPAN3),
    (dict(decimal_mode='local', neighbour_votes=True), SPAN3),
    (dict(decimal_mode='local', readout_cells='jitter'), SPAN3),
    (dict(decimal_mode='local', decimal_bins='joint'), SPAN3),
    (dict(decimal_mode='local', neighbour_votes=True, vote_power=3.,
          loss=dict(type='H3RLoss', mode='bce')), SPAN3),
    (dict(decimal_mode='local', neighbour_votes=True, argmax_blur=1.,
          loss=dict(type='H3RLoss', mode='bce')), SPAN3),
]


def varied_model(head, codec):
    """A seeded tiny model in eval mode whose outputs vary: PyTorch's
    default init, and a read-out (local mode) with non-negligible
    weights."""
    torch.manual_seed(0)
    model = tiny_model(K=4, codec=codec, **head)
    if head:
        model.head.decimal_readout.init_weights(std=0.3)
    return model.eval()


@pytest.mark.parametrize('head, codec', [({}, None)] + LOCAL_VARIANTS)
def test_flip_test_symmetric_input_matches_mirror(head, codec):
    """On a symmetric image the flip-test output of keypoint k is the mirror
    x -> w - 1 - x of that of its symmetric partner. In local mode each view
    reads the decimal logits at its own argmax cells."""
    model = varied_model(head, codec)
    img = torch.rand(1, 3, 64, 64)
    img = img + img.flip(-1)
    flip_indices = [1, 0, 3, 2]
    data = samples(tiny_codec(), np.zeros((1, 4, 2), np.float32),
                   flip_indices)
    with torch.no_grad():
        feats = model.extract_feat(img)
        plain = model.head.predict(feats, data, {})[0].keypoints[0]
        feats_f = model.extract_feat(img.flip(-1))
        pred = model.head.predict([feats, feats_f], data,
                                  dict(flip_test=True))[0].keypoints[0]
    mirror = pred[flip_indices].copy()
    mirror[:, 0] = 63 - mirror[:, 0]
    np.testing.assert_allclose(pred, mirror, atol=1e-4)
    # the property is not trivial: without flip test it does not hold
    plain_mirror = plain[flip_indices].copy()
    plain_mirror[:, 0] = 63 - plain_mirror[:, 0]
    assert np.abs(plain - plain_mirror).max() > 0.5


@pytest.mark.parametrize('codec, bound', [
    (dict(decimal_size=8), 1 / 16),
    (dict(decimal_size=8, convention='official'), 1 / 8),
    (dict(decimal_size=12, decimal_span=3), 1 / 8),
])
def test_flip_test_combines_decimal_exactly(codec, bound):
    """Feed the head perfect targets of the image and of its mirror: the
    flip-averaged keypoints must stay within the codec's round-trip bound,
    span/(2d) cell for ours and 1/d cell for the official convention."""
    codec = tiny_codec(**codec)
    # the fake maps are read without votes, as regressed maps
    head = MODELS.build(dict(type='HIHHead', in_channels=8, out_channels=2,
                             decimal_mode='local', neighbour_votes=False,
                             loss=dict(type='KeypointMSELoss'),
                             decoder=codec))
    rng = np.random.default_rng(1)
    flip_indices = [1, 0]
    truth = rng.uniform(4, 58, size=(8, 2, 2)).astype(np.float32)
    mirrored = truth[:, flip_indices].copy()
    mirrored[..., 0] = 63 - mirrored[..., 0]

    def outputs(kpts):
        enc = [KEYPOINT_CODECS.build(codec).encode(k[None]) for k in kpts]
        hm = torch.stack([torch.from_numpy(e['heatmaps']) for e in enc])
        dec = torch.stack(
            [torch.from_numpy(e['decimal_heatmaps'][0]) for e in enc])
        return [hm], dec.log()

    fake = {'orig': outputs(truth), 'flip': outputs(mirrored)}
    head.forward = lambda feats: fake[feats]
    data = samples(codec, truth, flip_indices)
    preds = head.predict(['orig', 'flip'], data,
                         dict(flip_test=True, shift_heatmap=True))
    pred = np.stack([p.keypoints[0] for p in preds])
    assert np.abs(pred - truth).max() <= 4 * bound + 1e-4


@pytest.mark.parametrize('W, H', [(128, 128), (96, 128)])
def test_single_feature_backbone_resnet_with_deconv(W, H):
    """Square, and non-square as COCO's 192x256 (decimal branch pools)."""
    codec = dict(type='HIHHeatmap', input_size=(W, H),
                 heatmap_size=(W // 4, H // 4), decimal_size=8)
    model = MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            backbone=dict(type='ResNet', depth=18),
            head=dict(type='HIHHead', in_channels=512, out_channels=3,
                      deconv_out_channels=(32, 32, 32), decimal_channels=16,
                      decoder=codec),
            test_cfg=dict(flip_test=True, flip_mode='heatmap')))
    kpts = np.random.default_rng(0).uniform(10, 90, (2, 3, 2))
    data = samples(codec, kpts.astype(np.float32), [0, 1, 2])
    img = torch.rand(2, 3, H, W)
    losses = model.loss(img, data)
    assert torch.isfinite(losses['loss_kpt'] + losses['loss_decimal'])
    model.eval()
    with torch.no_grad():
        heatmaps, decimal = model.head.forward(model.extract_feat(img))
        preds = model.head.predict(model.extract_feat(img), data,
                                   dict(output_heatmaps=True))
    assert decimal.shape == (2, 3, 8, 8)
    assert preds[0][0].keypoints.shape == (1, 3, 2)
    assert preds[1][0].heatmaps.shape == (3, H // 4, W // 4)


def test_heatmap_size_mismatch_names_the_fix():
    # the hourglass outputs 16x16 at a 64 input, the codec asks for 32x32
    model = tiny_model(codec=tiny_codec(input_size=(128, 128),
                                        heatmap_size=(32, 32)))
    data = samples(tiny_codec(), np.zeros((1, 4, 2), np.float32), [0] * 4)
    with pytest.raises(ValueError, match='set codec heatmap_size'):
        model.loss(torch.rand(1, 3, 64, 64), data)


@pytest.mark.parametrize('codec, match', [
    (tiny_codec(decimal_size=1), 'decimal_size'),
    (tiny_codec(heatmap_size=(16, 16), decimal_size=16), 'twice'),
    (tiny_codec(input_size=(128, 48), heatmap_size=(32, 12),
                decimal_size=8), 'twice'),
])
def test_bad_head_config_raises_at_build(codec, match):
    with pytest.raises(ValueError, match=match):
        tiny_model(codec=codec)


@pytest.mark.parametrize('head, codec', [({}, None)] + LOCAL_VARIANTS + [
    (dict(decimal_mode='local', neighbour_votes=True,
          loss=dict(type='H3RLoss', mode='bce')),
     tiny_codec(decimal_span=3, decimal_size=12,
                decode_mode='expectation'))])
def test_graph_decoding_equals_predict(head, codec):
    """The decoding of the exported graph (``HIHHead.decode_tensors``)
    gives predict's keypoints and scores in every variant, votes and logit
    maps included."""
    from hih_plugin.deploy.graph import DecodedPoseModel
    model = varied_model(head, codec)
    img = torch.rand(3, 3, 64, 64)
    data = samples(tiny_codec(), np.zeros((3, 4, 2), np.float32),
                   [1, 0, 3, 2])
    with torch.no_grad():
        preds = model.head.predict(model.extract_feat(img), data, {})
        kpts, scores = DecodedPoseModel(model)(img)
    np.testing.assert_allclose(
        kpts.numpy(), np.stack([p.keypoints[0] for p in preds]), atol=1e-3)
    np.testing.assert_allclose(
        scores.numpy(), np.stack([p.keypoint_scores[0] for p in preds]),
        rtol=1e-5, atol=1e-6)


def test_default_local_read_out_exports_to_onnx(tmp_path):
    """The local configs' read-out (BCE map, mean bin, votes) in an ONNX
    graph run by onnxruntime decodes as predict does."""
    ort = pytest.importorskip('onnxruntime')
    from hih_plugin.deploy.graph import DecodedPoseModel
    torch.manual_seed(0)
    model = tiny_model(
        K=4, codec=tiny_codec(decimal_span=3, decimal_size=12,
                              decode_mode='expectation'),
        decimal_mode='local', neighbour_votes=True, vote_power=3.,
        loss=dict(type='H3RLoss', mode='bce'))
    model.head.decimal_readout.init_weights(std=0.3)
    model.eval()
    img = torch.rand(2, 3, 64, 64)
    graph = DecodedPoseModel(model).eval()
    path = str(tmp_path / 'local.onnx')
    with torch.no_grad():
        torch.onnx.export(graph, (img, ), path, input_names=['crops'],
                          output_names=['keypoints', 'scores'],
                          dynamo=False)
        data = samples(tiny_codec(), np.zeros((2, 4, 2), np.float32),
                       [1, 0, 3, 2])
        preds = model.head.predict(model.extract_feat(img), data, {})
    kpts, scores = ort.InferenceSession(path).run(None,
                                                  {'crops': img.numpy()})
    np.testing.assert_allclose(
        kpts, np.stack([p.keypoints[0] for p in preds]), atol=1e-3)
    np.testing.assert_allclose(
        scores, np.stack([p.keypoint_scores[0] for p in preds]), rtol=1e-4)
