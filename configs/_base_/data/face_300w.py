# 300W (68 landmarks) in MMPose's layout, for the face configs built for
# WFLW (hih_300w.py, h3r_300w.py): they merge `face_300w.train` and `.val`
# into their base's dataloaders and take its keypoint count and evaluators.
# The HIH paper reports NME on the full, common and challenge sets; the H3R
# paper outer-eye NME on the full set, both with boxes from the GT landmarks
# and with the dataset's boxes (these are the boxes of MMPose's files).
#
# Val/test use the full set (common + challenge). For a subset, set
# test_dataloader.dataset.ann_file to one of (under annotations/)
#   face_landmarks_300w_valid_common.json
#   face_landmarks_300w_valid_challenge.json
#   face_landmarks_300w_test.json  (the private 300W test set)
face_300w = dict(
    num_keypoints=68,
    train=dict(
        type='Face300WDataset',
        data_root='data/300w/',
        ann_file='annotations/face_landmarks_300w_train.json'),
    val=dict(
        type='Face300WDataset',
        data_root='data/300w/',
        ann_file='annotations/face_landmarks_300w_valid.json'),
    # inter-ocular NME (outer eye corners 36 and 45), with FR@10 and AUC@10
    evaluator=[
        dict(
            type='NME',
            norm_mode='keypoint_distance',
            keypoint_indices=[36, 45]),
        dict(
            type='FailureRateAUC',
            norm_mode='keypoint_distance',
            keypoint_indices=[36, 45])
    ])
