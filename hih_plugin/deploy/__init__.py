"""Export top-down models to ONNX with decoding inside, and run them.

Needs the ``deploy`` extra (onnx, onnxruntime); ``import hih_plugin`` does
not import this package.
"""
from ..errors import UserError


def require_onnx() -> None:
    """A one-line :class:`UserError` if onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise UserError(f'this needs onnx and onnxruntime ({err}); install '
                        'them with pip install -e .[deploy]')
