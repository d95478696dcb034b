"""Data: MNIST (IDX files, downloaded and verified on demand), synthetic regression and
classification sets, feature standardisation and batch iterators."""

from .batches import BATCH_MODES, batch_indices, iterate_minibatches
from .mnist import MIRRORS, MNIST_FILES, SHA256, download_mnist, load_mnist, read_idx
from .synthetic import Standardizer, make_classification, make_regression, standardize

__all__ = [
    "load_mnist", "download_mnist", "read_idx", "MIRRORS", "MNIST_FILES", "SHA256",
    "make_regression", "make_classification", "standardize", "Standardizer",
    "batch_indices", "iterate_minibatches", "BATCH_MODES",
]
