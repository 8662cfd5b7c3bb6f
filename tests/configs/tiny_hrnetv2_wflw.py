# MMPose's stock HRNetV2-W18 WFLW config with a tiny HRNetV2, for CPU tests.
_base_ = ['mmpose::face_2d_keypoint/topdown_heatmap/wflw/'
          'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py']

model = dict(
    backbone=dict(
        init_cfg=None,  # no download of ImageNet weights
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(8, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(8, 16)),
            stage3=dict(
                num_modules=1, num_blocks=(1, 1, 1), num_channels=(8, 16, 32)),
            stage4=dict(
                num_modules=1,
                num_blocks=(1, 1, 1, 1),
                num_channels=(8, 16, 32, 64)))),
    head=dict(in_channels=120, conv_out_channels=(120, )))
