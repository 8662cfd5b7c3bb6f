# AFLW (19 landmarks) in MMPose's layout, for the face configs built for
# WFLW (hih_aflw.py, h3r_aflw.py): they merge `face_aflw.train` and `.val`
# into their base's dataloaders and take its keypoint count and evaluators.
# The HIH paper does not report AFLW.
#
# Val/test use AFLW-full; for AFLW-frontal set test_dataloader.dataset.
# ann_file to annotations/face_landmarks_aflw_test_frontal.json.
face_aflw = dict(
    num_keypoints=19,
    train=dict(
        type='AFLWDataset',
        data_root='data/aflw/',
        ann_file='annotations/face_landmarks_aflw_train.json'),
    val=dict(
        type='AFLWDataset',
        data_root='data/aflw/',
        ann_file='annotations/face_landmarks_aflw_test.json'),
    # AFLW errors are normalised by the face box size, as in MMPose's AFLW
    # config, because many AFLW faces are in profile, where the inter-ocular
    # distance collapses; FR@10 and AUC@10 use the same normalisation
    evaluator=[
        dict(type='NME', norm_mode='use_norm_item', norm_item='bbox_size'),
        dict(
            type='FailureRateAUC',
            norm_mode='use_norm_item',
            norm_item='bbox_size')
    ])
