"""A torch reference's matrix decompositions swapped for NumPy's, for the length of a ``with``.

torch's CPU wheels decompose with MKL, NumPy with OpenBLAS. Where a decomposition is unique,
the two agree to rounding; where it is not — the eigenvectors of a repeated eigenvalue, as the
null space of a rank-deficient gradient statistic — each library returns its own basis, and a
rule built on it (SOAP) follows different, equally valid paths. Inside ``numpy_lapack()``,
``torch.linalg.eigh``, ``qr`` and ``svd`` run NumPy's on the tensor's values, so the
reference's own arithmetic is compared with ours given the same decompositions: what the
matrix-preconditioner tests measure at 1e-12 (and the plain reference, separately, to the
tolerance its float32 QR and MKL allow).

>>> import numpy as np, torch
>>> with numpy_lapack():
...     q, r = torch.linalg.qr(torch.eye(2, dtype=torch.float64))
>>> type(q).__name__, np.linalg.qr(np.eye(2))[0].tolist() == q.tolist()
('Tensor', True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


def _numpy(decompose):  # a NumPy decomposition on tensors, returning tensors
    def run(a: torch.Tensor, *args, **kwargs):
        out = decompose(a.detach().numpy(), *args, **kwargs)
        return tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in out)
    return run


@contextlib.contextmanager
def numpy_lapack() -> Iterator[None]:
    """``torch.linalg.eigh``/``qr``/``svd`` are NumPy's inside the block."""
    saved = torch.linalg.eigh, torch.linalg.qr, torch.linalg.svd
    torch.linalg.eigh = _numpy(np.linalg.eigh)
    torch.linalg.qr = _numpy(np.linalg.qr)
    torch.linalg.svd = _numpy(np.linalg.svd)
    try:
        yield
    finally:
        torch.linalg.eigh, torch.linalg.qr, torch.linalg.svd = saved


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread inside the block: its small matrix products otherwise wait on a
    second thread of a busy two-core machine (40× slower here)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
