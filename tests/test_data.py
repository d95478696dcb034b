"""descentlab.data: IDX reading, download with checksums, synthetic sets, batch iterators."""

import functools
import gzip
import hashlib
import http.server
import struct
import threading
from itertools import islice

import numpy as np
import pytest

from descentlab.data import (
    MNIST_FILES,
    Standardizer,
    batch_indices,
    download_mnist,
    iterate_minibatches,
    load_mnist,
    make_classification,
    make_regression,
    read_idx,
    standardize,
)
from descentlab.data.mnist import DataError, default_cache_dir


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written by hand from the format's definition (independent of the reader)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_mnist(n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }


def write_files(directory, arrays, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    for base, a in arrays.items():
        data = idx_bytes(a)
        if gz:
            (directory / (base + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / base).write_bytes(data)


def checksums(arrays):
    return {base: hashlib.sha256(idx_bytes(a)).hexdigest() for base, a in arrays.items()}


@pytest.mark.parametrize("gz", [True, False])
def test_load_tiny_mnist(tmp_path, gz):
    arrays = tiny_mnist()
    write_files(tmp_path, arrays, gz=gz)
    (x, t), (xt, tt) = load_mnist(tmp_path, download=False)
    assert x.shape == (6, 784) and x.dtype == np.float32 and xt.shape == (4, 784)
    np.testing.assert_array_equal(x * 255, arrays["train-images-idx3-ubyte"].reshape(6, -1))
    np.testing.assert_array_equal(t, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(tt, arrays["t10k-labels-idx1-ubyte"])
    (x, t), _ = load_mnist(tmp_path, normalize=False, flatten=False, one_hot=True,
                           download=False)
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.uint8
    assert t.shape == (6, 10) and (t.argmax(1) == arrays["train-labels-idx1-ubyte"]).all()
    assert (t.sum(1) == 1).all()
    # the classic keyword
    (_, t2), _ = load_mnist(tmp_path, one_hot_label=True, download=False)
    np.testing.assert_array_equal(t2, t)


def test_search_order(tmp_path, monkeypatch):
    arrays = tiny_mnist()
    write_files(tmp_path / "env" / "mnist", arrays)       # a data root holding mnist/
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "env"))
    (x, _), _ = load_mnist(download=False)
    assert len(x) == 6
    monkeypatch.delenv("DESCENTLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "descentlab" / "mnist"
    with pytest.raises(DataError, match="missing from .*cache"):
        load_mnist(download=False)


def test_wrong_magic_names_the_file(tmp_path):
    write_files(tmp_path, tiny_mnist(), gz=False)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    data = bytearray(bad.read_bytes())
    data[2] = 0x42
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: wrong magic number"):
        load_mnist(tmp_path, download=False)


def test_images_where_labels_belong(tmp_path):
    arrays = tiny_mnist()
    arrays["train-labels-idx1-ubyte"] = arrays["train-images-idx3-ubyte"]
    write_files(tmp_path, arrays)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: wrong magic number"):
        load_mnist(tmp_path, download=False)


@pytest.mark.parametrize("cut", [3, 10, 100])
def test_truncated_file_names_the_file(tmp_path, cut):
    write_files(tmp_path, tiny_mnist(), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-cut] if cut != 3 else b"\x00\x00\x08")
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated"):
        load_mnist(tmp_path, download=False)


def test_count_mismatch(tmp_path):
    arrays = tiny_mnist()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:3]
    write_files(tmp_path, arrays)
    with pytest.raises(DataError, match="4 images but .*t10k-labels.* 3 labels"):
        load_mnist(tmp_path, download=False)


def test_read_idx_other_types(tmp_path):
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    p = tmp_path / "ints"
    p.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3) + a.tobytes())
    np.testing.assert_array_equal(read_idx(p), np.arange(6).reshape(2, 3))


def test_download_from_file_url(tmp_path):
    arrays = tiny_mnist()
    write_files(tmp_path / "mirror", arrays)
    target = tmp_path / "cache"
    (x, t), (xt, _) = load_mnist(target, mirrors=[(tmp_path / "mirror").as_uri() + "/"],
                                 checksums=checksums(arrays), progress=False)
    assert len(x) == 6 and len(xt) == 4
    assert sorted(p.name for p in target.iterdir()) == sorted(
        b + ".gz" for b in MNIST_FILES.values())  # no temporary files left behind


def test_download_checksum_mismatch_leaves_nothing(tmp_path, capsys):
    arrays = tiny_mnist()
    write_files(tmp_path / "mirror", arrays)
    sums = checksums(arrays)
    sums["train-labels-idx1-ubyte"] = "0" * 64
    target = tmp_path / "cache"
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: SHA-256 mismatch"):
        load_mnist(target, mirrors=[(tmp_path / "mirror").as_uri()], checksums=sums)
    assert not (target / "train-labels-idx1-ubyte.gz").exists()
    assert not list(target.glob(".*part*"))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_over_http_with_fallback(tmp_path, capsys):
    """A dead mirror is skipped; the loopback server's files arrive with progress shown."""
    arrays = tiny_mnist()
    write_files(tmp_path / "served", arrays)
    handler = functools.partial(_Handler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        dead = (tmp_path / "nowhere").as_uri()
        written = download_mnist(tmp_path / "dl", mirrors=[dead, f"http://127.0.0.1:{port}/"],
                                 checksums=checksums(arrays))
    finally:
        server.shutdown()
        server.server_close()
    assert len(written) == 4
    err = capsys.readouterr().err
    assert "100%" in err and "127.0.0.1" in err
    (x, _), _ = load_mnist(tmp_path / "dl", download=False)
    assert len(x) == 6


def test_every_mirror_failing(tmp_path):
    with pytest.raises(DataError, match="could not download train-images-idx3-ubyte"):
        download_mnist(tmp_path, mirrors=[(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()],
                       progress=False)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- synthetic
def test_make_regression_is_linear():
    x, y, w = make_regression(400, 3, noise=0.0, scales=(1, 10, 100), bias=2.0, seed=1)
    assert x.std(axis=0) == pytest.approx([1, 10, 100], rel=0.15)
    np.testing.assert_allclose(y, x @ w + 2.0)
    x2, y2, _ = make_regression(400, 3, noise=0.0, scales=(1, 10, 100), bias=2.0, seed=1)
    np.testing.assert_array_equal(y, y2)
    with pytest.raises(ValueError, match="scales"):
        make_regression(10, 2, scales=(1, -1))


def test_make_classification():
    x, t = make_classification(300, 2, separation=6.0, seed=0)
    assert set(np.unique(t)) == {0, 1} and t.sum() == 150
    # well separated blobs: the class means differ by about `separation`
    assert np.linalg.norm(x[t == 1].mean(0) - x[t == 0].mean(0)) == pytest.approx(6.0, rel=0.1)


def test_standardize():
    x = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    z, mean, std = standardize(x)
    np.testing.assert_allclose(z, [[-1, -1, 0], [1, 1, 0]])
    np.testing.assert_allclose(mean, [2, 20, 5])
    s = Standardizer().fit(x)
    np.testing.assert_allclose(s.transform(np.array([[2.0, 40.0, 5.0]])), [[0, 2, 0]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x)


# ---------------------------------------------------------------------------- batches
def test_single_samples_cover_each_epoch_in_new_orders():
    steps = [int(b[0]) for b in islice(batch_indices("single", 5, seed=3), 15)]
    epochs = [steps[i:i + 5] for i in range(0, 15, 5)]
    assert all(sorted(e) == list(range(5)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_minibatches_partition_each_epoch():
    batches = list(islice(batch_indices("minibatch", 10, 3, seed=0), 8))
    assert [len(b) for b in batches] == [3, 3, 3, 1, 3, 3, 3, 1]
    assert sorted(np.concatenate(batches[:4]).tolist()) == list(range(10))


def test_replacement_sampling_repeats():
    draws = np.concatenate(list(islice(batch_indices("replacement", 5, 4, seed=0), 50)))
    assert draws.min() >= 0 and draws.max() < 5
    # with replacement: some batch contains a repeated index (4 of 5 without replacement
    # would never repeat)
    assert any(len(set(b.tolist())) < 4 for b in islice(batch_indices("replacement", 5, 4,
                                                                      seed=0), 50))


def test_batch_errors_and_epoch_iterator():
    with pytest.raises(ValueError, match="unknown batch mode 'mini'"):
        next(batch_indices("mini", 5))
    x, t = np.arange(7.0), np.arange(7)
    pairs = list(iterate_minibatches(x, t, 3, seed=0))
    assert [len(p[0]) for p in pairs] == [3, 3, 1]
    assert all((a == b).all() for a, b in pairs)
    assert sorted(np.concatenate([p[1] for p in pairs]).tolist()) == list(range(7))
