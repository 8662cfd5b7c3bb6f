"""checked_pipeline, with which configs rewrite a stock MMPose pipeline."""
from mmengine.config import Config

from hih_plugin.datasets import checked_pipeline

CODEC = dict(type='H3RHeatmap', input_size=(192, 256), heatmap_size=(48, 64))


def test_loader_and_encoder_replaced_other_steps_kept():
    stock = [
        dict(type='LoadImage', backend_args=None),
        dict(type='GetBBoxCenterScale'),
        dict(type='GenerateTarget', encoder=dict(type='MSRAHeatmap'),
             use_dataset_keypoint_weights=True),
        dict(type='PackPoseInputs'),
    ]
    before = [dict(step) for step in stock]
    steps = checked_pipeline(stock, CODEC)
    assert steps == [
        dict(type='LoadCheckedImage', backend_args=None),
        dict(type='GetBBoxCenterScale'),
        dict(type='GenerateTarget', encoder=CODEC,
             use_dataset_keypoint_weights=True),
        dict(type='PackPoseInputs'),
    ]
    assert stock == before  # the base's list and steps are left alone
    assert steps[1] is stock[1]
    # without a codec, GenerateTarget keeps its own
    assert checked_pipeline(stock)[2] == stock[2]


def test_rewritten_steps_drop_the_base_scope():
    """The steps of an mmpose:: base carry `_scope_='mmpose'`; a rewritten
    step is the config's own, as if written there."""
    stock = [dict(type='LoadImage', _scope_='mmpose'),
             dict(type='GenerateTarget', encoder={}, _scope_='mmpose')]
    assert checked_pipeline(stock, CODEC) == [
        dict(type='LoadCheckedImage'),
        dict(type='GenerateTarget', encoder=CODEC)]


def test_config_imports_it_after_base_and_dumps_plain_dicts(tmp_path):
    """Imported after `_base_`, the config stays a pure-text one; the
    function is no key of it, so it dumps to a file that reads back the
    same."""
    (tmp_path / 'base.py').write_text(
        "train_pipeline = [dict(type='LoadImage'), "
        "dict(type='GenerateTarget', encoder=dict(type='A'))]\n")
    config = tmp_path / 'config.py'
    config.write_text(
        "_base_ = ['./base.py']\n"
        'from hih_plugin.datasets import checked_pipeline  # noqa: E402\n'
        "train_pipeline = checked_pipeline(_base_.train_pipeline, "
        "dict(type='B'))\n")
    cfg = Config.fromfile(str(config))
    assert cfg.to_dict() == dict(train_pipeline=[
        dict(type='LoadCheckedImage'),
        dict(type='GenerateTarget', encoder=dict(type='B'))])
    cfg.dump(str(tmp_path / 'dumped.py'))
    assert Config.fromfile(str(tmp_path / 'dumped.py')).to_dict() == \
        cfg.to_dict()
