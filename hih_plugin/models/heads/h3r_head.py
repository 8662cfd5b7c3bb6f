"""Heatmap head for H3R, with a flip test that keeps sub-pixel accuracy."""
from mmengine.structures import PixelData
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, Features, OptConfigType,
                                 OptSampleList, Predictions)

from .prior import foreground_prior_logit
from .tta import average_flipped_instances, average_flipped_maps


@MODELS.register_module()
class H3RHead(HeatmapHead):
    """:class:`HeatmapHead` whose flip test averages decoded coordinates.

    Layers, loss and training are those of :class:`HeatmapHead`; use it with
    :class:`H3RHeatmap` as decoder and :class:`H3RLoss`. Only the flip test
    differs. The input flip maps pixel ``x`` to ``w - 1 - x``, which in
    heatmap units is ``(w - 1) / s - u``, while flipping a heatmap array maps
    ``u`` to ``W - 1 - u``: the two differ by ``(s - 1) / s`` of a cell.
    :class:`HeatmapHead` averages the two views' heatmaps after shifting the
    flipped one by whole cells (``shift_heatmap``), so the views stay offset
    by a fraction of a cell and the average is biased by it: the
    quantization error a sub-pixel method exists to remove. So each view
    is decoded on its own, the flipped view's coordinates are mirrored
    exactly (``x -> w - 1 - x``, with the keypoints swapped by
    ``flip_indices``) and coordinates and scores are averaged.
    ``flip_mode`` and ``shift_heatmap`` in ``test_cfg`` are therefore
    unused. Averaging coordinates rather than logits also keeps the top-k
    softmax of each view intact.

    With ``test_cfg['output_heatmaps']`` the returned heatmaps are the mean
    of the two views' logits aligned by an unshifted flip, for
    visualisation only.

    Without an ``init_cfg``, the weights start as :class:`HeatmapHead`'s,
    and the final layer's bias at ``-log(H * W - 1)``, the logit of a
    ``1 / (H * W)`` foreground prior for the decoder's ``heatmap_size``
    ``(W, H)``: the one-hot BCE target has one positive cell in ``H * W``,
    so the loss does not start by pushing every background cell down from
    0.5. An explicit ``init_cfg`` is used as given.

    Args:
        *args, **kwargs: Those of :class:`HeatmapHead`
        init_cfg (dict | list[dict], optional): Overrides the default
            initialisation described above
    """

    def __init__(self, *args, init_cfg: OptConfigType = None, **kwargs):
        if init_cfg is None:
            init_cfg = self.prior_init_cfg(
                kwargs.get('decoder'), kwargs.get('final_layer', {}))
        super().__init__(*args, init_cfg=init_cfg, **kwargs)

    def prior_init_cfg(self, decoder: OptConfigType,
                       final_layer: OptConfigType) -> list:
        """:attr:`default_init_cfg` with the final bias at the foreground
        prior of ``decoder``'s heatmap; unchanged without a decoder or a
        final layer to set."""
        init_cfg = self.default_init_cfg
        if not decoder or final_layer is None:
            return init_cfg
        width, height = decoder['heatmap_size']
        if width * height < 2:  # one cell is always the foreground
            return init_cfg
        init_cfg[0] = dict(
            init_cfg[0],
            override=dict(
                name='final_layer',
                type='Normal',
                std=0.001,
                bias=foreground_prior_logit((width, height))))
        return init_cfg

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict results from features; see :meth:`HeatmapHead.predict`.

        Args:
            feats (Tuple[Tensor] | List[Tuple[Tensor]]): The multi-stage
                features (or the original and flipped features in flip test)
            batch_data_samples (List[:obj:`PoseDataSample`]): The batch
                data samples
            test_cfg (dict): The runtime config for testing process. Defaults
                to {}

        Returns:
            Union[InstanceList | Tuple[InstanceList | PixelDataList]]: The
            pose predictions, and the heatmaps with
            ``test_cfg['output_heatmaps']``.
        """
        if not test_cfg.get('flip_test', False):
            return super().predict(feats, batch_data_samples, test_cfg)

        assert isinstance(feats, list) and len(feats) == 2
        flip_indices = batch_data_samples[0].metainfo['flip_indices']
        batch_heatmaps = self.forward(feats[0])
        batch_heatmaps_flip = self.forward(feats[1])
        preds = average_flipped_instances(
            self.decode(batch_heatmaps), self.decode(batch_heatmaps_flip),
            flip_indices, self.decoder.input_size[0])

        if test_cfg.get('output_heatmaps', False):
            batch_heatmaps = average_flipped_maps(batch_heatmaps,
                                                  batch_heatmaps_flip,
                                                  flip_indices)
            return preds, [
                PixelData(heatmaps=hm) for hm in batch_heatmaps.detach()
            ]
        return preds
