# H3R's codec, head and flip test, for a stock MMPose top-down heatmap
# config (HeatmapHead with MSRAHeatmap). The configs that use it (h3r_wflw,
# h3r_coco, h3r_mpii, mix/res50_h3r_coco) give the codec its sizes and merge
# these into their base's `codec`, `model.head` and `model.test_cfg`.
#
# H3RHead is HeatmapHead with a flip test that mirrors decoded coordinates;
# without an init_cfg it starts its final bias at the logit of a 1/(H*W)
# foreground prior for the decoder's heatmap, so BCE does not start by
# pushing every background cell down from 0.5.
h3r_codec = dict(type='H3RHeatmap', topk=9)
h3r_head = dict(
    type='H3RHead',
    # merged into the base's KeypointMSELoss dict, whose
    # use_target_weight=True H3RLoss takes too
    loss=dict(type='H3RLoss', mode='bce', use_target_weight=True))
# flip_mode and shift_heatmap of the base's heatmap flip test are unused by
# H3RHead; the configs drop them with `_delete_`
h3r_test_cfg = dict(flip_test=True)
