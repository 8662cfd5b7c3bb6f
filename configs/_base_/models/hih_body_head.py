# HIH's codec and head for a stock MMPose HRNet-W32 body config (HeatmapHead
# with MSRAHeatmap); hih_coco.py and hih_mpii.py give the codec its sizes and
# the head its keypoint count.
#
# The HIH paper is face-only. Body keypoints move across the whole crop,
# where the paper's global decimal branch cannot learn, so the offsets are
# read at each keypoint's own cell (decimal_mode='local': 24 bins over 3
# cells, the read-out trained at the 3x3 cells around the true one). The
# integer map stays MMPose's: an MSE-regressed Gaussian of sigma 2, argmax
# decoding, no votes. The decimal sigma (1 bin) and weight (0.05 per 8 x 8
# bins, 0.45 over 24 x 24: DistributionLoss averages over the bins) are the
# paper's.
hih_codec = dict(
    type='HIHHeatmap', decimal_mode='local', sigma=2, decode_mode='argmax')
hih_head = dict(
    type='HIHHead',
    in_channels=32,  # HRNet-W32's highest-resolution branch
    decimal_mode='local',
    neighbour_votes=False,
    loss=dict(type='KeypointMSELoss', use_target_weight=True),
    decimal_loss=dict(type='DistributionLoss', loss_weight=0.45))
