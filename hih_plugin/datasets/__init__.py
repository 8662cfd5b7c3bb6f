from .loading import LoadCheckedImage
from .pipeline import checked_pipeline
from .transforms import RandomGaussianBlur

__all__ = ['LoadCheckedImage', 'RandomGaussianBlur', 'checked_pipeline']
