# COFW (29 landmarks) in MMPose's layout (its
# tools/dataset_converters/parse_cofw_dataset.py), for the face configs
# built for WFLW (hih_cofw.py, h3r_cofw.py): they merge `face_cofw.train`
# and `.val` into their base's dataloaders and take its keypoint count and
# evaluators. The HIH paper reports COFW NME and FR@10, which these are.
face_cofw = dict(
    num_keypoints=29,
    train=dict(
        type='COFWDataset',
        data_root='data/cofw/',
        ann_file='annotations/cofw_train.json'),
    val=dict(
        type='COFWDataset',
        data_root='data/cofw/',
        ann_file='annotations/cofw_test.json'),
    # inter-ocular NME (outer eye corners 8 and 9), with FR@10 and AUC@10
    evaluator=[
        dict(
            type='NME', norm_mode='keypoint_distance',
            keypoint_indices=[8, 9]),
        dict(
            type='FailureRateAUC',
            norm_mode='keypoint_distance',
            keypoint_indices=[8, 9])
    ])
