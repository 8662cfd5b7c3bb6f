# The face datasets in MMPose's layout, one dict each: the dataset's files,
# keypoint count and evaluators. hih_wflw.py and h3r_wflw.py inherit this
# fragment and read `face_wflw`; the 300W, COFW and AFLW configs inherit it
# through them and merge their own dict into the dataloaders.


def _face(dataset, root, train, val, num_keypoints, norm):
    """One dataset's dict; ``norm`` normalises both NME and FR@10/AUC@10."""
    return dict(
        num_keypoints=num_keypoints,
        train=dict(type=dataset, data_root=root, ann_file=train),
        val=dict(type=dataset, data_root=root, ann_file=val),
        evaluator=[
            dict(type='NME', **norm),
            dict(type='FailureRateAUC', **norm)
        ])


def _inter_ocular(left, right):
    """NME normalised by the outer eye corners' distance."""
    return dict(norm_mode='keypoint_distance', keypoint_indices=[left, right])


# WFLW (98 landmarks): val/test use the full test set.
face_wflw = _face('WFLWDataset', 'data/wflw/',
                  'annotations/face_landmarks_wflw_train.json',
                  'annotations/face_landmarks_wflw_test.json', 98,
                  _inter_ocular(60, 72))

# 300W (68 landmarks). The HIH paper reports NME on the full, common and
# challenge sets; the H3R paper outer-eye NME on the full set, both with
# boxes from the GT landmarks and with the dataset's boxes (these are the
# boxes of MMPose's files). Val/test use the full set (common + challenge).
# For a subset, set test_dataloader.dataset.ann_file to one of (under
# annotations/)
#   face_landmarks_300w_valid_common.json
#   face_landmarks_300w_valid_challenge.json
#   face_landmarks_300w_test.json  (the private 300W test set)
face_300w = _face('Face300WDataset', 'data/300w/',
                  'annotations/face_landmarks_300w_train.json',
                  'annotations/face_landmarks_300w_valid.json', 68,
                  _inter_ocular(36, 45))

# COFW (29 landmarks), in the layout of MMPose's
# tools/dataset_converters/parse_cofw_dataset.py. The HIH paper reports COFW
# NME and FR@10, which these are.
face_cofw = _face('COFWDataset', 'data/cofw/', 'annotations/cofw_train.json',
                  'annotations/cofw_test.json', 29, _inter_ocular(8, 9))

# AFLW (19 landmarks); the HIH paper does not report it. Val/test use
# AFLW-full; for AFLW-frontal set test_dataloader.dataset.ann_file to
# annotations/face_landmarks_aflw_test_frontal.json. Errors are normalised by
# the face box size, as in MMPose's AFLW config, because many AFLW faces are
# in profile, where the inter-ocular distance collapses.
face_aflw = _face('AFLWDataset', 'data/aflw/',
                  'annotations/face_landmarks_aflw_train.json',
                  'annotations/face_landmarks_aflw_test.json', 19,
                  dict(norm_mode='use_norm_item', norm_item='bbox_size'))
