"""Files under faults: corrupted checkpoints never half-load, a failed load leaves model,
optimizer and RNG exactly as they were, checkpoint values are validated, saves killed mid-write
leave no partial file and their temporary files are cleaned up, the checksum catches bit flips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore import random as nrandom
from nncore.serialization import _safetensors, load_metadata, load_safetensors, save_safetensors
from nncore.train import load_checkpoint, save_checkpoint
from nncore.train.checkpoint import FORMAT


def _objects(seed: int):
    nc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.BatchNorm1d(7), nn.Linear(7, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        model(nc.randn(4, 5)).square().sum().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def _snapshot(model, opt, sched) -> str:
    """Every byte of model, optimizer, scheduler and RNG state, as one comparable string."""
    parts = [repr(sorted((k, v.numpy().tobytes()) for k, v in model.state_dict().items()))]
    sd = opt.state_dict()
    parts.append(repr(sorted((i, k, np.asarray(v).tobytes()) for i, s in sd["state"].items()
                             for k, v in s.items())))
    parts.append(repr([{k: v for k, v in g.items()} for g in sd["param_groups"]]))
    parts.append(repr(sorted(sched.state_dict().items())))
    parts.append(json.dumps(nrandom.get_rng_state_dict(), sort_keys=True))
    return "\n".join(parts)


@pytest.fixture()
def saved(tmp_path):
    model, opt, sched = _objects(1)
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, model, opt, sched, epoch=3)
    return path, _snapshot(model, opt, sched)


def _load_into_fresh(path) -> tuple[str, str, Exception | None]:
    """(state before, state after, the exception) of loading ``path`` into fresh objects."""
    model, opt, sched = _objects(2)
    before = _snapshot(model, opt, sched)
    try:
        load_checkpoint(path, model, opt, sched)
        error = None
    except Exception as e:  # noqa: BLE001 (the test classifies every outcome)
        error = e
    return before, _snapshot(model, opt, sched), error


def _classify(path, good: str) -> str:
    before, after, error = _load_into_fresh(path)
    if error is None:
        # NOTE: the RNG is restored too, so a complete load reproduces the saved snapshot.
        return "loaded" if after == good else "half-load"
    if after != before:
        return "half-load"
    return "refused" if isinstance(error, ValueError) else f"wrong type {type(error).__name__}"


def test_bit_flips_and_truncations_never_half_load(saved, tmp_path) -> None:
    path, good = saved
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = []
    bad = tmp_path / "bad.ckpt"
    positions = list(rng.integers(0, len(data), 60)) + list(range(0, 64, 3))
    for pos in positions:
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(bytes(flipped))
        outcomes.append(_classify(bad, good))
    for cut in list(rng.integers(0, len(data), 20)) + [0, 7, 8, len(data) - 1]:
        bad.write_bytes(data[:cut])
        outcomes.append(_classify(bad, good))
    assert "half-load" not in outcomes
    assert all(o in ("refused", "loaded") for o in outcomes), outcomes
    # Every flip of tensor data is caught by the checksum.
    assert outcomes.count("refused") >= len(outcomes) - 2


def _rewrite(path, out, edit) -> None:
    """Write ``out``: the checkpoint at ``path`` with its JSON state edited by ``edit`` (a
    well-formed file with a valid checksum: the checks must come from validation)."""
    meta = load_metadata(path)
    state = json.loads(meta[FORMAT])
    edit(state)
    meta[FORMAT] = json.dumps(state)
    save_safetensors(load_safetensors(path), out, metadata=meta)


def _set(path_keys, value):
    def edit(state):
        node = state
        for k in path_keys[:-1]:
            node = node[k]
        node[path_keys[-1]] = value
    return edit


def _delete(key):
    return lambda state: state.pop(key)


GROUP = ("optimizer", "state", "param_groups", 0)


@pytest.mark.parametrize("edit, message", [
    (_set(("rng",), None), "'rng'"),
    (_delete("rng"), "missing"),
    (_delete("architecture"), "missing"),
    (_set(("epoch",), -5), "negative"),
    (_set(("epoch",), "3"), "'epoch'"),
    (_set(GROUP + ("lr",), "fast"), "'lr' must be a number"),
    (_set(GROUP + ("lr",), -1.0), "learning rate"),
    (_set(GROUP + ("betas",), [2.0]), "'betas'"),
    (_set(GROUP + ("betas",), [2.0, 0.5]), "beta"),
    (_set(GROUP + ("amsgrad",), "yes"), "bool"),
    (_set(("optimizer", "state", "state"), []), "malformed"),
    (_set(("optimizer", "state"), 5), "optimizer state"),
    (_set(("scheduler", "state", "last_epoch"), "x"), "last_epoch"),
    (_set(("scheduler",), {"class": "StepLR"}), "'scheduler'"),
    (_set(("rng", "bit_generator", "state"), {"state": "x", "inc": 1}), "RNG"),
    (_set(("optimizer", "state", "state"), {"__items__": [[0, {"step": {"__array__": "nope"}}]]}),
     "corrupt"),
])
def test_malformed_checkpoint_json_is_refused_and_changes_nothing(saved, tmp_path, edit,
                                                                  message) -> None:
    path, _ = saved
    bad = tmp_path / "edited.ckpt"
    _rewrite(path, bad, edit)
    before, after, error = _load_into_fresh(bad)
    assert isinstance(error, ValueError), repr(error)
    assert message in str(error)
    assert after == before


def test_failure_inside_a_load_state_dict_rolls_everything_back(saved, monkeypatch) -> None:
    path, _ = saved
    model, opt, sched = _objects(2)
    before = _snapshot(model, opt, sched)

    def broken(self, state):
        raise RuntimeError("scheduler refuses")

    monkeypatch.setattr(type(sched), "load_state_dict", broken)
    with pytest.raises(RuntimeError, match="scheduler refuses"):
        load_checkpoint(path, model, opt, sched)
    monkeypatch.undo()
    assert _snapshot(model, opt, sched) == before
    # The optimizer's own objects are back (its state, its groups), and it still steps.
    assert type(opt.state).__name__ == "ParamState"
    model(nc.randn(2, 5)).sum().backward()
    opt.step()


def test_optimizer_load_state_dict_validates_before_changing() -> None:
    model, opt, _ = _objects(1)
    sd = opt.state_dict()
    before = _snapshot(model, opt, optim.lr_scheduler.StepLR(opt, 1))
    for key, value, exc in [("lr", "fast", TypeError), ("betas", (2.0,), TypeError),
                            ("betas", (2.0, 0.5), ValueError), ("eps", float("nan"), TypeError)]:
        bad = {"state": sd["state"], "param_groups": [{**sd["param_groups"][0], key: value}]}
        with pytest.raises(exc, match="Adam.load_state_dict"):
            opt.load_state_dict(bad)
    assert _snapshot(model, opt, optim.lr_scheduler.StepLR(opt, 1)) == before


def test_module_load_state_dict_undoes_a_partial_copy() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    sd = {k: np.ones(v.shape, np.float32) for k, v in model.state_dict().items()}
    # An object array passes the shape check but fails in the copy, after earlier copies ran.
    sd["1.bias"] = np.array([object(), object()], dtype=object)
    with pytest.raises(TypeError):
        model.load_state_dict(sd)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_checksum_catches_flipped_tensor_data_and_foreign_files_still_load(tmp_path) -> None:
    path = tmp_path / "w.safetensors"
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5)}
    save_safetensors(arrays, path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        load_safetensors(path)
    with pytest.raises(ValueError, match="checksum"):
        nc.load(path)
    with pytest.raises(ValueError, match="checksum"):
        nc.load(path, mmap=True)
    # A file without a checksum (another writer) loads as before.
    head, body = _safetensors.encode(arrays, None, "test")
    header = json.loads(head[8:])
    del header["__metadata__"]
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(len(raw).to_bytes(8, "little") + raw
                      + b"".join(a.tobytes() for a in body))
    back = load_safetensors(plain)
    np.testing.assert_array_equal(back["a"], arrays["a"])


_SAVER = """
import sys, numpy as np
sys.path.insert(0, {python!r})
import nncore as nc
big = {{"w": nc.from_numpy(np.random.default_rng(0).standard_normal(4_000_000)
                           .astype(np.float32))}}
print("ready", flush=True)
while True:
    nc.save(big, {path!r})
"""


def test_kill_during_save_leaves_a_whole_file_and_no_stale_temporaries(tmp_path) -> None:
    path = tmp_path / "model.pt"
    python = os.path.join(os.path.dirname(nc.__file__), os.pardir)
    kills = 6
    rng = np.random.default_rng(1)
    for _ in range(kills):
        p = subprocess.Popen([sys.executable, "-c", _SAVER.format(python=python,
                                                                   path=str(path))],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.02, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        if path.exists():
            back = nc.load(path)
            assert back["w"].shape == (4_000_000,)
    # The next save removes the temporary files of the killed writers (their pids are gone).
    nc.save({"w": nc.zeros(3)}, path)
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []
    assert nc.load(path)["w"].shape == (3,)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporaries_are_removed_only_when_their_writer_is_gone(tmp_path) -> None:
    host = _safetensors._host()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    names = {
        "dead": f".m.pt.{dead}@{host}.abc123.tmp",
        "alive": f".m.pt.{os.getppid()}@{host}.abc123.tmp",
        "foreign_new": ".m.pt.12345@elsewhere.abc123.tmp",
        "foreign_old": ".m.pt.12345@elsewhere.def456.tmp",
        "legacy_old": ".m.pt.xyz789.tmp",
        "other_file": f".n.pt.{dead}@{host}.abc123.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    old = time.time() - 2 * 24 * 3600
    for key in ("foreign_old", "legacy_old"):
        os.utime(tmp_path / names[key], (old, old))
    nc.save({"w": nc.ones(2)}, tmp_path / "m.pt")
    left = {k for k, n in names.items() if (tmp_path / n).exists()}
    assert left == {"alive", "foreign_new", "other_file"}
