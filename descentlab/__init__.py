"""descentlab: gradient-descent optimizers that read like their equations, and a lab that
races them."""

from . import optim

__version__ = "0.1.0"
__all__ = ["optim", "__version__"]
