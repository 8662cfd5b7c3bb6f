"""``LoadImage`` that refuses a damaged or oversized image, naming it."""
import io

import mmcv
import numpy as np
from mmengine import fileio
from mmpose.datasets.transforms import LoadImage
from mmpose.registry import TRANSFORMS

from ..errors import DATA_PREP_DOC, UserError
from .image_check import decoder_warnings, image_size_problem


@TRANSFORMS.register_module()
class LoadCheckedImage(LoadImage):
    """MMPose's ``LoadImage``, with two checks of each file it reads.

    - The size the header declares must be within
      :func:`~hih_plugin.datasets.image_check.max_image_pixels`; it is read
      before decoding, so no decoder allocates for an absurd size.
    - The decoder must report no damaged data: libjpeg and libpng only
      print a warning for a damaged body, and OpenCV returns the image
      with the damaged part filled in.

    Either raises a one-line :class:`~hih_plugin.errors.UserError`
    naming the file. Our configs load images with it; ``tools/train.py``
    and ``tools/test.py`` warn about a pipeline that uses ``LoadImage``.
    """

    def transform(self, results):
        if results.get('img') is not None:
            return super().transform(results)
        path = results['img_path']
        img, problem = None, None
        try:
            content = fileio.get(path, backend_args=self.backend_args)
        except OSError as err:
            problem = f'cannot be read ({err.strerror or err})'
        else:
            problem = image_size_problem(io.BytesIO(content))
        if problem is None:
            with decoder_warnings() as damage:
                try:
                    img = mmcv.imfrombytes(content, flag=self.color_type,
                                           backend=self.imdecode_backend)
                except Exception:  # noqa: BLE001  named below
                    img = None
            if damage:
                problem = f'is damaged (the decoder says: {damage[0]})'
            elif img is None or img.size == 0:
                problem = 'cannot be decoded'
        if problem:
            raise UserError(f'image {path} {problem}; restore it from the '
                            f'dataset ({DATA_PREP_DOC}), or remove its '
                            'annotations')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results
