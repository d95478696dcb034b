"""Neural networks from scratch: layers with forward/backward, losses, initialisation and
:class:`MultiLayerNet` with the classic textbook API.

>>> import numpy as np
>>> from descentlab.nn import MultiLayerNet
>>> net = MultiLayerNet(784, [100, 100, 100, 100], 10, seed=0)
>>> net.num_params, net.params["W1"].dtype
(109810, dtype('float32'))
"""

from .charrnn import CharRNN
from .conv import AvgPooling, Convolution, MaxPooling
from .convnet import ConvNet
from .functions import (
    binary_cross_entropy,
    cross_entropy_error,
    log_softmax,
    mean_squared_error,
    numerical_gradient,
    relu,
    sigmoid,
    softmax,
)
from .init import init_std, init_weights
from .layernet import LayerNet
from .layers import (
    ACTIVATIONS,
    LOSSES,
    Affine,
    MSELoss,
    Relu,
    Sigmoid,
    SigmoidWithLoss,
    SoftmaxWithLoss,
    Tanh,
)
from .network import MultiLayerNet
from .sequence import RNN, Embedding, TimeAffine, TimeSoftmaxWithLoss

__all__ = [
    "Affine", "Relu", "Sigmoid", "Tanh", "SoftmaxWithLoss", "SigmoidWithLoss", "MSELoss",
    "ACTIVATIONS", "LOSSES", "MultiLayerNet", "init_std", "init_weights", "softmax",
    "log_softmax", "sigmoid", "relu", "cross_entropy_error", "binary_cross_entropy",
    "mean_squared_error", "numerical_gradient", "Convolution", "MaxPooling", "AvgPooling",
    "Embedding", "RNN", "TimeAffine", "TimeSoftmaxWithLoss", "LayerNet", "ConvNet", "CharRNN",
]
