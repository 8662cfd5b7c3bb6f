from .loading import LoadCheckedImage
from .transforms import RandomGaussianBlur

__all__ = ['LoadCheckedImage', 'RandomGaussianBlur']
