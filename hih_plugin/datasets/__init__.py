from .transforms import RandomGaussianBlur

__all__ = ['RandomGaussianBlur']
