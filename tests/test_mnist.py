"""MNIST: IDX parsing and validation, search order, downloads from a local server, the sample."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import nncore as nc
from nncore.data.datasets import mnist

REAL = Path(os.environ.get("NNCORE_TEST_MNIST", "/work/shared/data/mnist"))
TRAIN, TEST = mnist.FILES[True], mnist.FILES[False]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Never touch the real cache or environment; no real mirror is ever contacted."""
    monkeypatch.setattr(mnist, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(mnist, "MIRRORS", [f"http://127.0.0.1:{_closed_port()}/"])
    monkeypatch.setattr(mnist, "TIMEOUT", 5.0)
    monkeypatch.delenv("NNCORE_DATA", raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _idx(n: int, seed: int) -> tuple[bytes, bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = struct.pack(">IIII", 0x803, n, 28, 28) + pixels.tobytes()
    return images, struct.pack(">II", 0x801, n) + labels.tobytes(), pixels, labels


def _write_split(directory: Path, names: tuple[str, str], n: int = 5, gz: bool = True,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    images, labels, pixels, y = _idx(n, seed)
    for name, raw in zip(names, (images, labels)):
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return pixels, y


def _check(ds: mnist.MNIST, pixels: np.ndarray, labels: np.ndarray) -> None:
    n = len(pixels)
    assert len(ds) == n and not ds.using_sample
    assert ds.data.shape == (n, 1, 28, 28) and ds.data.dtype == np.float32
    assert ds.targets.shape == (n,) and ds.targets.dtype == np.int64
    np.testing.assert_allclose(ds.data[:, 0], pixels / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.targets, labels)
    image, label = ds[n - 1]
    assert isinstance(image, nc.Tensor) and image.shape == (1, 28, 28)
    assert label.dtype == np.int64 and label.item() == labels[-1]


@pytest.mark.skipif(not (REAL / f"{TEST[0]}.gz").is_file(), reason="real MNIST files absent")
def test_real_files_from_nncore_data(monkeypatch):
    monkeypatch.setenv("NNCORE_DATA", str(REAL))
    test = nc.datasets.MNIST(train=False)
    assert len(test) == 10000 and test.source == REAL and not test.using_sample
    assert test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    assert test.data.min() == 0.0 and test.data.max() == 1.0
    assert np.bincount(test.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    train = nc.datasets.MNIST(train=True)
    assert len(train) == 60000 and train.targets[:5].tolist() == [5, 0, 4, 1, 9]
    x, y = next(iter(nc.data.DataLoader(train, batch_size=64, shuffle=True, seed=0)))
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_reads_gz_and_raw_from_root(tmp_path, gz, train):
    pixels, labels = _write_split(tmp_path / "root", mnist.FILES[train], n=7, gz=gz)
    ds = mnist.MNIST(root=tmp_path / "root", train=train, download=False)
    _check(ds, pixels, labels)
    assert ds.source == tmp_path / "root"


def test_search_order_root_then_env_then_cache(tmp_path, monkeypatch):
    _write_split(tmp_path / "env", TEST, n=3, seed=1)
    _write_split(mnist.CACHE_DIR, TEST, n=4, seed=2)
    monkeypatch.setenv("NNCORE_DATA", str(tmp_path / "env"))
    assert len(mnist.MNIST(root=tmp_path / "empty", train=False)) == 3
    monkeypatch.delenv("NNCORE_DATA")
    assert len(mnist.MNIST(train=False)) == 4
    _write_split(tmp_path / "root", TEST, n=2)
    assert len(mnist.MNIST(root=tmp_path / "root", train=False)) == 2


@pytest.mark.parametrize("corrupt,message", [
    (lambda img, lab: (b"\x00\x00\x08\x01" + img[4:], lab), "has magic number 0x00000801"),
    (lambda img, lab: (img[:-10], lab), "but its header .* implies"),
    (lambda img, lab: (img[:9], lab), "truncated inside its header"),
    (lambda img, lab: (img, lab + b"\x00"), "labels-idx1-ubyte has 14 bytes"),
    (lambda img, lab: (img, struct.pack(">II", 0x801, 4) + lab[8:12]), "has 5 images but"),
    (lambda img, lab: (img, lab[:-1] + b"\x0c"), "has label 12, expected 0..9"),
    (lambda img, lab: (struct.pack(">IIII", 0x803, 1, 14, 56) + img[16:800],
                      struct.pack(">II", 0x801, 1) + lab[8:9]),
     r"holds images of \(14, 56\)"),
])
def test_corrupt_files_raise_clear_errors(tmp_path, corrupt, message):
    images, labels, _, _ = _idx(5, 0)
    images, labels = corrupt(images, labels)
    (tmp_path / TEST[0]).write_bytes(images)
    (tmp_path / TEST[1]).write_bytes(labels)
    with pytest.raises(ValueError, match=f"MNIST: .*{message}"):
        mnist.MNIST(root=tmp_path, train=False)


def test_corrupt_gzip_raises(tmp_path):
    images, labels, _, _ = _idx(5, 0)
    (tmp_path / f"{TEST[0]}.gz").write_bytes(gzip.compress(images)[:-20])
    (tmp_path / f"{TEST[1]}.gz").write_bytes(gzip.compress(labels))
    with pytest.raises(ValueError, match=r"MNIST: .*t10k-images-idx3-ubyte.gz is not a valid gzip"):
        mnist.MNIST(root=tmp_path, train=False)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _publish(www: Path, names: tuple[str, str], monkeypatch, n: int = 6):
    """Serve a small valid split and register its checksums; returns (pixels, labels)."""
    images, labels, pixels, y = _idx(n, 3)
    for name, raw in zip(names, (images, labels)):
        (www / f"{name}.gz").write_bytes(gzip.compress(raw))
        monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(raw).hexdigest())
    return pixels, y


def test_download_into_cache(server, monkeypatch):
    url, www = server
    pixels, labels = _publish(www, TRAIN, monkeypatch)
    # The first mirror is unreachable and the second answers 404: both are skipped.
    monkeypatch.setattr(mnist, "MIRRORS", [mnist.MIRRORS[0], url + "missing/", url])
    ds = mnist.MNIST(train=True)
    _check(ds, pixels, labels)
    cache = Path(mnist.CACHE_DIR)
    assert ds.source == cache
    assert sorted(os.listdir(cache)) == sorted(f"{n}.gz" for n in TRAIN)
    # Found in the cache now: no server needed.
    monkeypatch.setattr(mnist, "MIRRORS", [])
    _check(mnist.MNIST(train=True), pixels, labels)


def test_download_checksum_mismatch_leaves_nothing(server, monkeypatch):
    url, www = server
    _publish(www, TEST, monkeypatch)
    monkeypatch.setitem(mnist.SHA256, TEST[0], "0" * 64)
    monkeypatch.setattr(mnist, "MIRRORS", [url])
    with pytest.raises(ValueError, match="MNIST: checksum mismatch for .*t10k-images-idx3-ubyte"):
        mnist.MNIST(train=False)
    cache = Path(mnist.CACHE_DIR)
    assert not cache.exists() or os.listdir(cache) == []


def test_download_of_garbage_tries_next_mirror(server, monkeypatch):
    url, www = server
    pixels, labels = _publish(www, TEST, monkeypatch)
    (www / "bad").mkdir()
    for name in TEST:
        (www / "bad" / f"{name}.gz").write_bytes(b"\x1f\x8b<html>not gzip</html>")
    monkeypatch.setattr(mnist, "MIRRORS", [url + "bad/", url])
    _check(mnist.MNIST(train=False), pixels, labels)
    assert not [f for f in os.listdir(mnist.CACHE_DIR) if f.endswith(".part")]


@pytest.mark.parametrize("download", [True, False])
def test_falls_back_to_packaged_sample(caplog, download):
    with caplog.at_level(logging.WARNING, logger="nncore.data"):
        ds = mnist.MNIST(train=True, download=download)
    assert ds.using_sample and len(ds) == 10000 and ds.source == mnist.SAMPLE_DIR
    assert ds.targets[:5].tolist() == [7, 2, 1, 0, 4]  # the test split
    assert "TEST split" in caplog.text and "standing in for the training split" in caplog.text
    assert "using_sample=True" in repr(ds)


def test_nothing_found_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "SAMPLE_DIR", tmp_path / "no-sample")
    monkeypatch.setenv("NNCORE_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        mnist.MNIST(root=tmp_path / "root", train=False)
    message = str(info.value)
    for place in (tmp_path / "root", tmp_path / "env", mnist.CACHE_DIR, tmp_path / "no-sample",
                  mnist.MIRRORS[0]):
        assert str(place) in message
    assert "Download failed" in message and "NNCORE_DATA" in message
