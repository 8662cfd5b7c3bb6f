"""H3RHead: training as HeatmapHead, flip test in coordinate space."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

import hih_plugin  # noqa: F401  registers H3RHead, H3RHeatmap, H3RLoss

CODEC = dict(type='H3RHeatmap', input_size=(256, 256), heatmap_size=(64, 64))
FLIP = dict(flip_test=True)
FLIP_INDICES = [1, 0, 2]  # keypoints 0/1 are a left/right pair
W_IN = 256


def samples(n=1):
    return [PoseDataSample(metainfo=dict(flip_indices=FLIP_INDICES))
            for _ in range(n)]


def mirror(keypoints):
    """Keypoints of the horizontally flipped input (MMPose: x -> w-1-x)."""
    out = keypoints[..., FLIP_INDICES, :].copy()
    out[..., 0] = W_IN - 1 - out[..., 0]
    return out


def logits_at(keypoints):
    """(1, K, H, W) logits whose decoding is exactly ``keypoints``."""
    codec = KEYPOINT_CODECS.build(dict(CODEC, expected=True))
    hm = codec.encode(keypoints, None)['heatmaps']
    with np.errstate(divide='ignore'):
        return torch.from_numpy(np.log(hm))[None]


def passthrough_head(type='H3RHead', **kwargs):
    """A head whose output is its input, so tests choose the logits."""
    return MODELS.build(dict(
        type=type, in_channels=3, out_channels=3, deconv_out_channels=None,
        final_layer=None, loss=dict(type='H3RLoss'), decoder=CODEC, **kwargs))


def test_flip_test_is_exact_to_sub_pixel():
    """Views that agree on a sub-pixel position give exactly that position;
    HeatmapHead's whole-cell heatmap shift cannot do this."""
    kpts = np.array([[[100.3, 50.7], [150.9, 60.2], [127.1, 200.6]]])
    feats = [(logits_at(kpts), ), (logits_at(mirror(kpts)), )]

    pred = passthrough_head().predict(feats, samples(), FLIP)[0]
    assert np.abs(pred.keypoints - kpts).max() < 1e-3

    for shift in (True, False):
        stock = passthrough_head('HeatmapHead').predict(
            feats, samples(), dict(flip_test=True, shift_heatmap=shift))[0]
        assert np.abs(stock.keypoints - kpts)[..., 0].min() > 0.1


def test_flip_test_on_a_symmetric_input_is_mirror_symmetric():
    """A mirror-symmetric image yields the same features for both views;
    the flip-test prediction must then equal its own mirror."""
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='H3RHead', in_channels=8, out_channels=3,
        deconv_out_channels=None, conv_out_channels=(8, ),
        conv_kernel_sizes=(3, ), loss=dict(type='H3RLoss'), decoder=CODEC))
    head.eval()
    feat = (torch.randn(2, 8, 64, 64), )
    with torch.no_grad():
        preds = head.predict([feat, feat], samples(2), FLIP)
        plain = head.predict(feat, samples(2), {})
    for pred, single in zip(preds, plain):
        np.testing.assert_allclose(pred.keypoints, mirror(pred.keypoints),
                                   atol=1e-3)
        np.testing.assert_allclose(pred.keypoint_scores,
                                   pred.keypoint_scores[:, FLIP_INDICES])
        # without the flip the prediction is not symmetric: the test bites
        assert np.abs(single.keypoints - mirror(single.keypoints)).max() > 1


def test_flip_test_outputs_heatmaps_when_asked():
    kpts = np.array([[[100.3, 50.7], [150.9, 60.2], [127.1, 200.6]]])
    feats = [(logits_at(kpts), ), (logits_at(mirror(kpts)), )]
    preds, fields = passthrough_head().predict(
        feats, samples(), dict(flip_test=True, output_heatmaps=True))
    assert fields[0].heatmaps.shape == (3, 64, 64)


def test_loss_and_accuracy_on_one_hot_targets():
    head = passthrough_head()
    codec = KEYPOINT_CODECS.build(CODEC)
    kpts = np.array([[[100.3, 50.7], [150.9, 60.2], [127.1, 200.6]]])
    enc = codec.encode(kpts, np.array([[1., 1., 0.]]))
    sample = samples()[0]
    sample.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
    sample.gt_instance_labels = InstanceData(
        keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
    perfect = torch.from_numpy(enc['heatmaps'])[None] * 40 - 20
    losses = head.loss((perfect, ), [sample])
    assert losses['loss_kpt'] < 1e-6 and losses['acc_pose'] == 1
    losses = head.loss((-perfect, ), [sample])
    assert losses['loss_kpt'] > 1


def built_head(heatmap_size, **kwargs):
    head = MODELS.build(dict(
        type='H3RHead', in_channels=8, out_channels=3,
        deconv_out_channels=None, loss=dict(type='H3RLoss'),
        decoder=dict(CODEC, heatmap_size=heatmap_size,
                     input_size=tuple(4 * n for n in heatmap_size)),
        **kwargs))
    head.init_weights()
    return head


@pytest.mark.parametrize('heatmap_size', [(64, 64), (48, 64), (16, 16)])
def test_default_init_sets_the_foreground_prior(heatmap_size):
    """Without an init_cfg the final bias is the logit of a 1/(H*W) prior,
    from the decoder's heatmap size; the weights are HeatmapHead's."""
    head = built_head(heatmap_size)
    cells = heatmap_size[0] * heatmap_size[1]
    bias = head.final_layer.bias
    torch.testing.assert_close(
        bias, torch.full_like(bias, -math.log(cells - 1)))
    torch.testing.assert_close(
        bias.sigmoid(), torch.full_like(bias, 1 / cells))
    assert 0 < head.final_layer.weight.std() < 0.01


def test_explicit_init_cfg_wins():
    head = built_head((64, 64), init_cfg=dict(
        type='Constant', layer='Conv2d', val=0.5, bias=0.25))
    torch.testing.assert_close(
        head.final_layer.bias, torch.full((3, ), 0.25))


def test_no_final_layer_keeps_heatmap_head_default():
    head = passthrough_head()
    assert 'override' not in head.init_cfg[0]
