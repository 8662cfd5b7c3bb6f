# WFLW (98 landmarks) in MMPose's layout, for the WFLW configs (hih_wflw.py,
# h3r_wflw.py): they merge `face_wflw.train` and `.val` into their
# dataloaders and take its evaluators, as the 300W, COFW and AFLW configs do
# with theirs. Val/test use the full test set.
face_wflw = dict(
    num_keypoints=98,
    train=dict(
        type='WFLWDataset',
        data_root='data/wflw/',
        ann_file='annotations/face_landmarks_wflw_train.json'),
    val=dict(
        type='WFLWDataset',
        data_root='data/wflw/',
        ann_file='annotations/face_landmarks_wflw_test.json'),
    # inter-ocular NME (outer eye corners 60 and 72), with FR@10 and AUC@10
    evaluator=[
        dict(
            type='NME',
            norm_mode='keypoint_distance',
            keypoint_indices=[60, 72]),
        dict(
            type='FailureRateAUC',
            norm_mode='keypoint_distance',
            keypoint_indices=[60, 72])
    ])
