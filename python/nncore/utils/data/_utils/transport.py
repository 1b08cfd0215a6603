"""How batches travel from a worker process to the main process.

A batch is pickled with protocol 5. Buffers of 64 KiB or more (the data of NumPy arrays and so
of Tensors) go out of band into files in ``/dev/shm``: the worker writes each once, the main
process maps it and unlinks it at once, and the array it rebuilds keeps the mapping alive. So a
large array is copied once (into the shared file) instead of four times (pickle, pipe write,
pipe read, unpickle). Smaller buffers, and every buffer where ``/dev/shm`` is missing or full,
stay inside the pickle.

Each iterator names its files ``<prefix>_<worker>_<n>``; ``cleanup(prefix)`` removes what a
shut-down iterator left (batches still queued, or written by a terminated worker).
"""

from __future__ import annotations

import glob
import itertools
import mmap
import os
import pickle
from typing import Any, NamedTuple

SHM_DIR = "/dev/shm"
MIN_SHARED_BYTES = 1 << 16
_counter = itertools.count()
# NOTE: MAP_POPULATE maps every page in one call instead of one page fault per 4 KiB.
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)


class Encoded(NamedTuple):
    """A pickled batch: the pickle and the (path, size) of each out-of-band buffer, in order."""

    payload: bytes
    files: list[tuple[str, int]]


def _shm_usable() -> bool:
    return os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)


def _write(path: str, view: memoryview) -> bool:
    """Write ``view`` to a new file at ``path``; False (and no file) if that fails."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except OSError:
        return False
    try:
        # NOTE: write(), not a mapping, fills the file: a full /dev/shm fails here with ENOSPC
        # (and the buffer goes inside the pickle) instead of a SIGBUS in the reader.
        done = 0
        while done < view.nbytes:
            done += os.write(fd, view[done:])
        return True
    except OSError:
        os.unlink(path)
        return False
    finally:
        os.close(fd)


def encode(obj: Any, prefix: str) -> Encoded:
    """Pickle ``obj``, large buffers into shared-memory files named ``<prefix>_<n>``.

    Args:
        obj: any picklable object (a batch).
        prefix: file-name prefix, unique to the iterator and the worker.

    Returns:
        The ``Encoded`` batch (small: the pickle holds only the small buffers).
    """
    files: list[tuple[str, int]] = []
    usable = _shm_usable()

    def place(buf: pickle.PickleBuffer) -> bool:
        # NOTE: returning True keeps the buffer inside the pickle.
        view = buf.raw()
        if not usable or view.nbytes < MIN_SHARED_BYTES:
            return True
        path = os.path.join(SHM_DIR, f"{prefix}_{next(_counter)}")
        if not _write(path, view):
            return True
        files.append((path, view.nbytes))
        return False

    try:
        payload = pickle.dumps(obj, protocol=5, buffer_callback=place)
    except BaseException:
        _unlink([p for p, _ in files])
        raise
    return Encoded(payload, files)


def decode(enc: Encoded) -> Any:
    """Rebuild a batch from ``encode``; its shared files are mapped and unlinked.

    Returns:
        The object; its arrays live in the mappings (writable, freed with the arrays).
    """
    buffers = []
    try:
        for path, size in enc.files:
            fd = os.open(path, os.O_RDWR)
            try:
                os.unlink(path)
                buffers.append(mmap.mmap(fd, size, flags=_MAP_FLAGS))
            finally:
                os.close(fd)
    except BaseException:
        _unlink([p for p, _ in enc.files[len(buffers) + 1:]])
        raise
    return pickle.loads(enc.payload, buffers=buffers)


def discard(enc: Encoded) -> None:
    """Remove the files of a batch that will never be decoded."""
    _unlink([p for p, _ in enc.files])


def _unlink(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def cleanup(prefix: str) -> None:
    """Remove every file an iterator with ``prefix`` left in ``/dev/shm``."""
    _unlink(glob.glob(os.path.join(SHM_DIR, glob.escape(prefix) + "_*")))
