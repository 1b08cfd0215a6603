"""nncore.distributed and DistributedDataParallel: each multi-rank test launches
``mpiexec -n 2 python tests/distributed/workers.py <case>`` (MPICH or Open MPI from the
``[mpi]`` extra, which the ``[test]`` extra installs). Without MPI the tests skip, except
under CI (``CI`` set), where a missing MPI fails them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nncore as nc
import nncore.distributed as dist
from nncore import nn
from nncore.nn.parallel import DistributedDataParallel

WORKERS = Path(__file__).parent / "distributed" / "workers.py"


def _mpiexec() -> list[str] | None:
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        return None
    exe = Path(sys.executable).with_name("mpiexec")
    path = str(exe) if exe.exists() else shutil.which("mpiexec")
    if path is None:
        return None
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    if "Open MPI" in version.stdout + version.stderr:
        # NOTE: CI runs as root, which Open MPI refuses without this flag (MPICH does not ask).
        return [path, "--allow-run-as-root", "--oversubscribe"]
    return [path]


MPIEXEC = _mpiexec()


def run(case: str, timeout: float = 60, argv: list[str] | None = None,
        tmp: Path | None = None) -> tuple[int, str, float]:
    """(exit code, stdout + stderr, seconds) of ``mpiexec -n 2 python workers.py case`` (or of
    ``mpiexec -n 2 python <argv>``)."""
    if MPIEXEC is None:
        if os.environ.get("CI"):
            pytest.fail("mpi4py/mpiexec missing under CI: the [test] extra must install [mpi]")
        pytest.skip("needs mpi4py and mpiexec: pip install 'nncore[mpi]'")
    env = dict(os.environ)
    package_root = str(Path(nc.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["NNCORE_NUM_THREADS"] = "1"
    if tmp is not None:
        env["NNCORE_TEST_DIR"] = str(tmp)
    start = time.monotonic()
    proc = subprocess.Popen([*MPIEXEC, "-n", "2", sys.executable,
                             *(argv or [str(WORKERS), case])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"mpiexec {case}: hung for {timeout} s\n{out}")
    return proc.returncode, out, time.monotonic() - start


def test_collectives_ddp_equivalence_no_sync_sampler_on_two_ranks(tmp_path):
    # NOTE: one launch runs every passing case (collectives, DDP vs one process on the
    # concatenated batch in float64 and float32, no_sync, buffers, unused parameters, the
    # shape check at wrap time, the sampler's partition, fit): see workers.case_ok.
    code, out, _ = run("ok", tmp=tmp_path)
    assert code == 0 and "OK ok" in out, out


def test_mpiexec_nncore_train_mnist_mlp(tmp_path):
    code, out, _ = run("train", timeout=120, tmp=tmp_path, argv=[
        "-m", "nncore.cli", "train", "mnist-mlp", "--epochs", "1", "--batch-size", "64",
        "--quiet", "--checkpoint-dir", str(tmp_path / "ckpt")])
    assert code == 0, out
    assert "(32 per rank x 2 MPI ranks)" in out, out
    lines = [ln for ln in out.splitlines() if ln.startswith("final test accuracy")]
    assert len(lines) == 1, out  # rank 0 alone reports
    assert float(lines[0].split()[3].rstrip("%")) > 90, out
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["best.safetensors", "last.ckpt"]


def test_raising_rank_aborts_the_job():
    code, out, took = run("raise")
    assert code != 0 and "OK" not in out
    assert "rank 1 of 2 raised ValueError; aborting the MPI job" in out, out
    assert took < 30


def test_killed_rank_ends_the_job():
    code, out, took = run("kill")
    assert code != 0 and "OK" not in out
    assert "signal 9" in out, out
    assert took < 30


def test_stalled_rank_times_out_with_a_clear_error():
    code, out, took = run("stall")
    assert code != 0 and "OK" not in out
    assert "all_reduce: rank 0 of 2 waited 3 s for the other ranks (timeout)" in out, out
    assert took < 30


# ---- single process, no MPI needed ----
def test_without_a_process_group():
    assert dist.is_available() and not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier,
               lambda: dist.all_reduce(np.ones(2)), lambda: dist.broadcast(np.ones(2), 0)):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(NotImplementedError, match="backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(NotImplementedError, match="new_group"):
        dist.new_group([0])
    assert repr(dist.ReduceOp.SUM) == "<RedOpType.SUM: 0>"
    assert not dist.is_nccl_available()


def test_sync_batchnorm_without_a_group_is_batchnorm():
    nc.manual_seed(0)
    x = nc.randn(5, 3, 4)
    sync, plain = nn.SyncBatchNorm(3), nn.BatchNorm1d(3)
    np.testing.assert_array_equal(sync(x).detach().numpy(), plain(x).detach().numpy())
    np.testing.assert_array_equal(sync.running_var.numpy(), plain.running_var.numpy())
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert converted[1].weight is model[1].weight
    with pytest.raises(NotImplementedError, match="process_group"):
        nn.SyncBatchNorm(3, process_group=object())


def test_reduce_op_names_match_torch():
    tdist = pytest.importorskip("torch.distributed")
    assert list(dist.ReduceOp.RedOpType.__members__) == list(
        tdist.ReduceOp.RedOpType.__members__)
