"""The profiler: exact call counts, FLOP/byte counts, nesting, the Chrome trace, the table, the
NNCORE_PROFILE hook, the peak cache and the CLI. No timings are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc
from nncore import _C, autograd, nn, optim, profiler
from nncore.profiler import conv2d_flops, linear_flops, profile

PYTHON_DIR = os.path.dirname(os.path.dirname(nc.__file__))
FAKE_PEAK = {"fma_gflops": {"1": 100.0, "2": 200.0}, "bandwidth_gbs": {"1": 10.0, "2": 16.0},
             "simd": "test", "measured_at": "test", "quick": True}


def _write_fake_peak(home: str) -> None:
    folder = os.path.join(home, ".cache", "nncore")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "peak.json"), "w") as f:
        json.dump(dict(FAKE_PEAK, cpu=profiler._cpu_model(), isa=_C.build_info()["isa"]), f)


@pytest.fixture(autouse=True)
def fake_home(tmp_path, monkeypatch):
    """A temp HOME with known peak figures: no test measures the machine or touches ~/.cache."""
    home = str(tmp_path / "home")
    monkeypatch.setenv("HOME", home)
    _write_fake_peak(home)
    _C.profiler_clear()
    yield home
    assert not profiler._active and autograd._spans is None and not _C.profiler_is_enabled()


def _subprocess_env(home: str) -> dict:
    env = dict(os.environ, HOME=home, PYTHONPATH=PYTHON_DIR)
    env.pop("NNCORE_PROFILE", None)
    return env


def _mlp_step(batch: int = 8):
    nc.manual_seed(0)
    model = nn.Sequential(nn.Linear(13, 17), nn.ReLU(), nn.Linear(17, 5))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = nc.tensor(rng.standard_normal((batch, 13), dtype=np.float32))
    y = nc.tensor(rng.integers(0, 5, batch))

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _named(prof: profile, name: str) -> list[dict]:
    return [e for e in prof.events() if e["name"] == name]


def test_calls_counted_exactly() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7)).astype(np.float32)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    layer = nn.Linear(7, 5)
    with profile() as prof:
        for _ in range(7):
            _C.linear_forward(x, w, None)
        for _ in range(4):
            layer(nc.tensor(x))
    assert len(_named(prof, "linear.forward")) == 11
    assert len(_named(prof, "LinearFn.forward")) == 4
    rows = {r["name"]: r for r in prof.summary()}
    assert rows["linear.forward"]["calls"] == 11 and rows["LinearFn.forward"]["calls"] == 4
    assert set(rows) == {"linear.forward", "LinearFn.forward"}


def test_linear_flops_bytes_and_shapes() -> None:
    rows, fin, fout = 3, 7, 5
    rng = np.random.default_rng(2)
    x = rng.standard_normal((rows, fin))
    w = rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout)
    dy = rng.standard_normal((rows, fout))
    with profile() as prof:
        _C.linear_forward(x, w, b)
        _C.linear_forward(x.astype(np.float32), w.astype(np.float32), None)
        _C.linear_backward(dy, x, w, True, True, True)
        _C.linear_backward(dy, x, w, False, True, False)
    f64, f32 = _named(prof, "linear.forward")
    assert f64["flops"] == 2 * rows * fin * fout + rows * fout == linear_flops(rows, fin, fout)
    assert f32["flops"] == linear_flops(rows, fin, fout, bias=False) == 2 * rows * fin * fout
    assert f64["bytes"] == 8 * (rows * fin + fout * fin + fout + rows * fout)
    assert f32["bytes"] == 4 * (rows * fin + fout * fin + rows * fout)
    assert f64["shapes"] == ((rows, fin), (fout, fin))
    full, dw_only = _named(prof, "linear.backward")
    assert full["flops"] == linear_flops(rows, fin, fout, backward=True)
    assert full["flops"] == 4 * rows * fin * fout + rows * fout
    assert dw_only["flops"] == 2 * rows * fin * fout
    # dw only: reads dy and x, writes dw.
    assert dw_only["bytes"] == 8 * (rows * fout + rows * fin + fout * fin)
    assert dw_only["shapes"] == ((rows, fout), (rows, fin), (fout, fin))
    assert full["threads"] == nc.get_num_threads()


def test_matmul_and_elementwise_counts() -> None:
    a = np.ones((2, 3, 4), np.float32)
    b = np.ones((2, 4, 5), np.float32)
    x = np.ones((6, 9), np.float32)
    with profile() as prof:
        _C.matmul_forward(a, b)
        _C.relu_forward(x)
        _C.relu_backward(x, x)
    (mm,) = _named(prof, "matmul.forward")
    assert mm["flops"] == 2 * 2 * 3 * 4 * 5 and mm["bytes"] == 4 * 2 * (12 + 20 + 15)
    (fwd,) = _named(prof, "relu.forward")
    (bwd,) = _named(prof, "relu.backward")
    assert fwd["flops"] == 54 and fwd["bytes"] == 4 * 2 * 54  # read x, write y
    assert bwd["bytes"] == 4 * 3 * 54  # read dy and x, write dx


def test_conv2d_flop_formula() -> None:
    # N=2, C_in=3, 7x5 input, C_out=4, 3x2 kernel, 5x4 output.
    outputs = 2 * 4 * 5 * 4
    assert conv2d_flops((2, 3, 7, 5), (4, 3, 3, 2), (5, 4)) == 2 * outputs * 3 * 3 * 2 + outputs
    assert conv2d_flops((2, 3, 7, 5), (4, 3, 3, 2), (5, 4), bias=False) == 5760
    assert conv2d_flops((2, 3, 7, 5), (4, 3, 3, 2), (5, 4), bias=False, backward=True) == 11520
    # Depthwise (groups = C = 6): each output reads one input channel.
    assert conv2d_flops((1, 6, 8, 8), (6, 1, 3, 3), (6, 6), bias=False) == 2 * 6 * 36 * 9
    # The big layer: N32, 64->64, 56x56, 3x3, pad 1.
    assert conv2d_flops((32, 64, 56, 56), (64, 64, 3, 3), (56, 56), bias=False) == (
        2 * 32 * 64 * 56 * 56 * 64 * 9)


def test_optimizer_and_loss_steps_recorded() -> None:
    step = _mlp_step()
    with profile() as prof:
        step()
    names = {e["name"] for e in prof.events()}
    assert {"linear.forward", "linear.backward", "relu.forward", "relu.backward",
            "cross_entropy.forward", "cross_entropy.backward", "sgd.step"} <= names
    (sgd,) = _named(prof, "sgd.step")
    n = 13 * 17 + 17 + 17 * 5 + 5
    assert sgd["shapes"] == ((n,),) and sgd["bytes"] == 4 * 5 * n


def test_spans_nest_around_their_kernels() -> None:
    step = _mlp_step()
    with profile() as prof:
        step()
        step()
    events = prof.events()
    for kernel, span in [("linear.forward", "LinearFn.forward"),
                         ("linear.backward", "LinearFn.backward"),
                         ("relu.backward", "ReluFn.backward")]:
        spans = _named(prof, span)
        kernels = _named(prof, kernel)
        assert len(kernels) == len(spans) > 0, (kernel, span)
        for k in kernels:
            parents = [s for s in spans if s["thread"] == k["thread"]
                       and s["start_ns"] <= k["start_ns"] and k["end_ns"] <= s["end_ns"]]
            assert len(parents) == 1, kernel
            assert k["depth"] == parents[0]["depth"] + 1
    for s in _named(prof, "LinearFn.forward"):
        inner = [k for k in _named(prof, "linear.forward")
                 if s["start_ns"] <= k["start_ns"] and k["end_ns"] <= s["end_ns"]]
        assert s["self_ns"] == s["end_ns"] - s["start_ns"] - sum(
            k["end_ns"] - k["start_ns"] for k in inner)
        assert s["flops"] == sum(k["flops"] for k in inner) > 0
    # Events on one thread are well formed: any two are disjoint or one contains the other.
    by_thread = sorted(events, key=lambda e: (e["start_ns"], -e["end_ns"]))
    for i, a in enumerate(by_thread):
        for b in by_thread[i + 1:]:
            if b["start_ns"] >= a["end_ns"]:
                break
            assert b["end_ns"] <= a["end_ns"], (a["name"], b["name"])
    assert all(e["depth"] == 0 for e in _named(prof, "sgd.step"))


def test_profiling_off_records_nothing() -> None:
    step = _mlp_step()
    step()
    assert _C.profiler_events()["name"] == [] and autograd._spans is None
    with profile() as prof:
        step()
    count = len(prof.events())
    step()
    assert len(prof.events()) == count
    assert _C.profiler_events()["name"] == []


def test_record_autograd_false_keeps_only_kernels() -> None:
    step = _mlp_step()
    with profile(record_autograd=False) as prof:
        step()
    assert {e["kind"] for e in prof.events()} == {"native"}


def test_record_shapes_gives_autograd_spans_their_input_shapes() -> None:
    x = nc.tensor(np.ones((3, 5), np.float32), requires_grad=True)
    w = nc.tensor(np.ones((7, 5), np.float32), requires_grad=True)
    for record_shapes in (False, True):
        with profile(record_shapes=record_shapes) as prof:
            nc.nn.functional.linear(x, w).sum().backward()
        spans = {e["name"]: e["shapes"] for e in prof.events() if e["kind"] == "autograd"}
        kernels = [e["shapes"] for e in prof.events() if e["name"] == "linear.forward"]
        assert kernels == [((3, 5), (7, 5))]  # native calls carry their shapes either way
        if record_shapes:
            assert spans["LinearFn.forward"] == ((3, 5), (7, 5))
            assert spans["LinearFn.backward"] == ((3, 7),)
        else:
            assert spans["LinearFn.forward"] == () and spans["LinearFn.backward"] == ()


def test_nested_profiles_share_events() -> None:
    x = np.ones((2, 3), np.float32)
    with profile() as outer:
        _C.relu_forward(x)
        with profile() as inner:
            _C.relu_forward(x)
            nc.tensor(x, requires_grad=True).relu()
        _C.relu_forward(x)
    assert len(_named(inner, "relu.forward")) == 2
    assert len(_named(outer, "relu.forward")) == 4
    assert len(_named(outer, "ReluFn.forward")) == 1


def test_trace_is_valid_json_matching_the_table(tmp_path) -> None:
    step = _mlp_step()
    with profile() as prof:
        for _ in range(3):
            step()
    folder = tmp_path / "traces"
    path = folder / "trace.json"
    prof.export_chrome_trace(path)
    with open(path) as f:
        trace = json.load(f)
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    for e in complete:
        assert {"name", "cat", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["dur"] >= 0 and isinstance(e["args"]["shapes"], list)
    rows = prof.summary()
    assert len(complete) == sum(r["calls"] for r in rows)
    for r in rows:
        mine = [e for e in complete if e["name"] == r["name"]]
        assert len(mine) == r["calls"], r["name"]
        assert sum(e["dur"] for e in mine) == pytest.approx(r["total_ms"] * 1e3, rel=1e-9)
        if r["kind"] == "native":
            assert sum(e["args"]["flops"] for e in mine) == pytest.approx(r["flops"])
    assert {e["name"] for e in trace["traceEvents"] if e["ph"] == "M"} >= {"process_name",
                                                                            "thread_name"}
    assert [p.name for p in folder.iterdir()] == ["trace.json"]  # no temp file left


def test_trace_write_is_atomic(tmp_path, monkeypatch) -> None:
    with profile() as prof:
        _C.relu_forward(np.ones(4, np.float32))
    folder = tmp_path / "traces"
    folder.mkdir()
    path = folder / "trace.json"
    path.write_text("previous")

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(profiler.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        prof.export_chrome_trace(path)
    assert path.read_text() == "previous"
    assert [p.name for p in folder.iterdir()] == ["trace.json"]


def test_table_and_summary_share_of_peak() -> None:
    step = _mlp_step(batch=32)
    with profile() as prof:
        step()
    rows = prof.summary(sort_by="total")
    totals = [r["total_ms"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    lf = next(r for r in rows if r["name"] == "linear.forward")
    threads = nc.get_num_threads()
    assert lf["threads"] == threads
    assert lf["gflops"] == pytest.approx(lf["flops"] / (lf["total_ms"] * 1e-3) * 1e-9)
    peak_flops = profiler._peak_at(FAKE_PEAK["fma_gflops"], threads)
    assert lf["peak_flops_pct"] == pytest.approx(100 * lf["gflops"] / peak_flops)
    peak_bw = profiler._peak_at(FAKE_PEAK["bandwidth_gbs"], threads)
    assert lf["peak_bandwidth_pct"] == pytest.approx(100 * lf["gbs"] / peak_bw)
    text = prof.table()
    assert "GFLOP/s" in text and "% peak FLOP/s" in text and "LinearFn.forward" in text
    grouped = prof.table(group_by_shape=True)
    assert "linear.forward (32, 13) (17, 13)" in grouped
    assert [r["name"] for r in prof.summary(sort_by="name")] == sorted(r["name"] for r in rows)
    with pytest.raises(ValueError, match="sort_by"):
        prof.summary(sort_by="fastest")


def test_peak_interpolates_between_measured_thread_counts() -> None:
    table = {"1": 10.0, "4": 40.0}
    assert profiler._peak_at(table, 1) == 10.0
    assert profiler._peak_at(table, 2) == pytest.approx(20.0)
    assert profiler._peak_at(table, 8) == 40.0


def test_nncore_profile_env_prints_table(fake_home) -> None:
    script = ("import numpy as np, nncore as nc\n"
              "from nncore import nn\n"
              "m = nn.Linear(4, 3)\n"
              "loss = m(nc.tensor(np.ones((2, 4), np.float32))).sum()\n"
              "loss.backward()\n"
              "print('script done')\n")
    env = dict(_subprocess_env(fake_home), NNCORE_PROFILE="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "script done" in out.stdout
    assert "nncore profile (NNCORE_PROFILE=1)" in out.stderr
    for name in ("linear.forward", "linear.backward", "LinearFn.forward", "GFLOP/s"):
        assert name in out.stderr, name


def test_bench_peak_measures_once_and_caches(tmp_path) -> None:
    home = str(tmp_path / "empty-home")
    cache = os.path.join(home, ".cache", "nncore", "peak.json")
    cmd = [sys.executable, "-m", "nncore.cli", "bench", "peak", "--quick"]
    env = _subprocess_env(home)
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    with open(cache) as f:
        peak = json.load(f)
    assert peak["fma_gflops"]["1"] > 0 and peak["bandwidth_gbs"]["1"] > 0
    inode = os.stat(cache).st_ino
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and os.stat(cache).st_ino == inode  # served from the cache
    assert second.stdout == first.stdout
    forced = subprocess.run(cmd + ["--force"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert forced.returncode == 0 and os.stat(cache).st_ino != inode  # replaced by rename
    assert os.listdir(os.path.dirname(cache)) == ["peak.json"]
    assert peak["isa"] == _C.build_info()["isa"] and peak["fma_lanes"] == _C.bench_fma_lanes()


def test_peak_cache_is_keyed_on_the_isa(fake_home) -> None:
    """A peak measured with another ISA's module (half the FMA width) is not reused."""
    path = profiler.peak_cache_path()
    other = {"avx512": "avx2"}.get(_C.build_info()["isa"], "avx512")
    with open(path, "w") as f:
        json.dump(dict(FAKE_PEAK, cpu=profiler._cpu_model(), isa=other), f)
    assert profiler.load_peak(quick=True)["isa"] == _C.build_info()["isa"]
    assert profiler.load_peak()["measured_at"] != "test"


def test_table_returns_the_text_without_printing(capsys) -> None:
    # as torch.profiler's key_averages().table(): print(prof.table()) prints it once
    with profile() as prof:
        nn.Linear(8, 4)(nc.ones(3, 8))
    text = prof.table(row_limit=1)
    assert capsys.readouterr().out == ""
    assert len(text.splitlines()) == 5  # title, header, rule, one row, footer


def test_table_header_names_the_module_and_peak() -> None:
    with profile() as prof:
        nn.Linear(8, 4)(nc.ones(3, 8))
    first = prof.table().splitlines()[0]
    loaded = nc._isa.loaded()
    assert first.startswith(f"nncore native module {loaded['module']} (ISA {loaded['isa']}")
    threads = nc.get_num_threads()
    assert f"FMA peak {profiler._peak_at(FAKE_PEAK['fma_gflops'], threads):.1f} GFLOP/s" in first


def test_profile_command_prints_table_and_writes_trace(tmp_path, capsys) -> None:
    from nncore.cli import main

    trace = tmp_path / "mlp.json"
    assert main(["profile", "mnist-mlp", "--steps", "3", "--warmup", "1", "--trace",
                 str(trace)]) == 0
    out = capsys.readouterr().out
    assert "linear.forward" in out and "sgd.step" in out and str(trace) in out
    with open(trace) as f:
        events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    assert sum(e["name"] == "sgd.step" for e in events) == 3
