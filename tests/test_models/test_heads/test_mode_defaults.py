"""decimal_mode picks the defaults of HIHHeatmap and HIHHead: 'local' means
the measured recipe, 'global' the paper's; explicit values win."""
import pytest
from mmengine.registry import init_default_scope
from mmpose.registry import KEYPOINT_CODECS, MODELS

import hih_plugin  # noqa: F401

init_default_scope('mmpose')

SIZES = dict(input_size=(64, 64), heatmap_size=(16, 16))


def codec(**kwargs):
    return dict(type='HIHHeatmap', **SIZES, **kwargs)


def head(codec_cfg, **kwargs):
    return MODELS.build(
        dict(type='HIHHead', in_channels=8, out_channels=3,
             decoder=codec_cfg, **kwargs))


def settings(built_codec):
    return {
        k: getattr(built_codec, k)
        for k in ('decimal_size', 'decimal_span', 'sigma', 'decimal_sigma',
                  'decode_mode')
    }


def test_local_codec_defaults_are_the_recipe():
    assert settings(KEYPOINT_CODECS.build(codec(decimal_mode='local'))) == \
        dict(decimal_size=24, decimal_span=3, sigma=0.75, decimal_sigma=1.0,
             decode_mode='expectation')


def test_global_codec_defaults_are_the_papers():
    for cfg in (codec(), codec(decimal_mode='global')):
        assert settings(KEYPOINT_CODECS.build(cfg)) == dict(
            decimal_size=8, decimal_span=1, sigma=1.5, decimal_sigma=1.0,
            decode_mode='argmax')


def test_explicit_codec_values_win_over_the_mode():
    built = KEYPOINT_CODECS.build(
        codec(decimal_mode='local', decimal_size=8, decimal_span=1,
              sigma=1.5, decode_mode='argmax'))
    assert settings(built) == dict(decimal_size=8, decimal_span=1, sigma=1.5,
                                   decimal_sigma=1.0, decode_mode='argmax')


def test_unknown_codec_mode_names_the_choices():
    with pytest.raises(ValueError, match="'global'.*'local'"):
        KEYPOINT_CODECS.build(codec(decimal_mode='nearby'))


def test_local_head_defaults_are_the_recipe():
    built = head(codec(decimal_mode='local'), decimal_mode='local')
    assert built.readout_cells == 'neighbours'
    assert built.neighbour_votes is True
    assert built.vote_power == 3.
    assert type(built.loss_module).__name__ == 'H3RLoss'
    assert built.loss_module.mode == 'bce'
    assert built.loss_module.use_target_weight
    assert built.integer.target == 'bce'
    assert built.decimal_loss_module.loss_weight == 2.25


def test_global_head_defaults_are_the_papers():
    built = head(codec())
    assert built.decimal_mode == 'global'
    assert built.readout_cells == 'truth'
    assert built.neighbour_votes is False
    assert built.vote_power == 1.
    assert type(built.loss_module).__name__ == 'KeypointMSELoss'
    assert built.integer.target == 'mse'
    assert built.decimal_loss_module.loss_weight == 0.05


def test_local_head_on_a_one_cell_codec_reads_the_true_cell_without_votes():
    """Votes need a read-out trained around the true cell: with the paper's
    one-cell codec the local default is the true cell alone, no error."""
    built = head(codec(), decimal_mode='local')
    assert built.readout_cells == 'truth'
    assert built.neighbour_votes is False


def test_earlier_local_readout_is_reachable_by_its_options():
    """The read-out before the recipe: MSE map, true cell only, one cell."""
    built = head(codec(decimal_mode='local', decimal_size=8, decimal_span=1,
                       sigma=1.5, decode_mode='argmax'),
                 decimal_mode='local', readout_cells='truth',
                 loss=dict(type='KeypointMSELoss', use_target_weight=True),
                 decimal_loss=dict(type='DistributionLoss',
                                   loss_weight=0.05))
    assert built.readout_cells == 'truth'
    assert built.neighbour_votes is False
    assert built.integer.target == 'mse'
    assert built.decimal_loss_module.loss_weight == 0.05


def test_explicit_head_values_win_over_the_mode():
    built = head(codec(decimal_mode='local'), decimal_mode='local',
                 neighbour_votes=False, vote_power=1.,
                 loss=dict(type='H3RLoss', mode='softmax'),
                 decimal_loss=dict(type='DistributionLoss', loss_weight=1.))
    assert built.neighbour_votes is False
    assert built.vote_power == 1.
    assert built.integer.target == 'softmax'
    assert built.decimal_loss_module.loss_weight == 1.


def test_a_loss_without_type_updates_the_modes_default():
    """As ``--cfg-options model.head.loss.mode=softmax`` gives it."""
    built = head(codec(decimal_mode='local'), decimal_mode='local',
                 loss=dict(mode='softmax'),
                 decimal_loss=dict(loss_weight=1.))
    assert type(built.loss_module).__name__ == 'H3RLoss'
    assert built.integer.target == 'softmax'
    assert built.loss_module.use_target_weight
    assert type(built.decimal_loss_module).__name__ == 'DistributionLoss'
    assert built.decimal_loss_module.loss_weight == 1.
