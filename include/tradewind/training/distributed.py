"""Distributed training on the frameworks' own engines: torchrun + DDP, and XGBoost's collective.

Nothing here reimplements a launcher, a rendezvous or an all-reduce:

* **PyTorch**: ``torch.distributed.run`` (torchrun) starts the processes and runs the c10d
  rendezvous; each process joins the group (``gloo`` on CPU, ``nccl`` on GPU), wraps the
  :class:`~tradewind.training.torch_tabular.TabularNet` in ``DistributedDataParallel`` (gradients
  are averaged by DDP) and reads its part of every epoch from a ``DistributedSampler``.
* **XGBoost**: ``xgboost.tracker.RabitTracker`` coordinates, each worker trains inside
  ``xgboost.collective.CommunicatorContext`` on its shard of rows, and XGBoost all-reduces the
  quantile sketches and the ``hist`` gradient histograms, so every worker grows the same trees.

Every process runs the same CLI, ``python -m tradewind train ...``; its *role* comes from
the environment (:func:`plan_role`):

=====================  ======================================================================
role                   when
=====================  ======================================================================
``torch-worker``       torchrun started this process (``TORCHELASTIC_RUN_ID`` and ``LOCAL_RANK``)
``xgboost-worker``     ``DMLC_NUM_WORKER`` > 1 and ``DMLC_TASK_ID`` set (a Job pod or a local child)
``launch``             more than one worker is asked for and this process is not one of them
``single``             one worker: the plain single-process trainer, as before
=====================  ======================================================================

Local launch (no cluster): ``--workers N`` (or the ``workers`` of ``--gpu-profile`` /
``TRADEWIND_GPU_PROFILE``) makes the CLI start ``torchrun --nnodes=1 --nproc-per-node=N
--rdzv-backend=c10d --rdzv-endpoint=127.0.0.1:<free port>``, or an XGBoost tracker on 127.0.0.1
plus N worker subprocesses with ``DMLC_*`` set. Kubernetes (an indexed Job, see
:func:`tradewind.k8s.specs.rendezvous_env`): every pod gets ``MASTER_ADDR``, ``MASTER_PORT``,
``WORLD_SIZE`` (= nodes), ``NODE_RANK``, ``NPROC_PER_NODE`` which map one-to-one to torchrun's
flags, and ``DMLC_TRACKER_URI/PORT``, ``DMLC_NUM_WORKER``, ``DMLC_TASK_ID``; worker 0 hosts the
XGBoost tracker at that address.

Every process started here dies with the process that started it (:mod:`tradewind.procs`): torchrun
and the XGBoost workers get a parent-death signal and a process group of their own, and each torch rank
asks for the signal itself (torchrun starts ranks in sessions of their own), so a trainer killed with
SIGKILL leaves no worker behind.

Rank 0 alone writes the model folder, the checkpoints and the JSON summary; the other ranks train,
then exit 0. Heavy frameworks are imported inside the functions that need them, so the CLI of an
XGBoost run never imports torch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tradewind.procs import die_with_parent, start_owned, stop_group, wait_owned

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
# Set by the local XGBoost launcher on its children: the tracker already runs in the parent.
TRACKER_HOSTED_ENV = "TRADEWIND_XGB_TRACKER_HOSTED"
# Seconds to wait for every worker to join (pods of a Job may start minutes apart on GPU nodes).
RENDEZVOUS_TIMEOUT_ENV = "TRADEWIND_RENDEZVOUS_TIMEOUT"
DEFAULT_RENDEZVOUS_TIMEOUT_S = 1800
_POLL_S = 0.2


class WorkerCountError(ValueError):
    """A worker count that cannot work (below 1, or more workers than training rows)."""


# --- who am I: worker count and role --------------------------------------------------------------


def check_workers(workers: int, rows: int | None = None) -> int:
    """``workers`` if usable; :class:`WorkerCountError` with the reason otherwise.

    Every worker must hold at least one training row: an empty shard would make XGBoost's sketch
    and DDP's sampler degenerate and, worse, leave a rank that never joins an all-reduce.
    """
    if workers < 1:
        raise WorkerCountError(f"workers must be at least 1, got {workers}")
    if rows is not None and workers > rows:
        raise WorkerCountError(
            f"{workers} workers for {rows} training rows: every worker needs at least one row "
            "(use fewer workers or more data)"
        )
    return workers


def profile_workers(profile: str | None) -> tuple[int, int]:
    """(workers, gpus per worker) of a named GPU profile; (1, 0) without one."""
    if not profile:
        return 1, 0
    from tradewind.k8s.profiles import get_gpu_profile  # reads a YAML file: only when a profile is named

    found = get_gpu_profile(profile)
    return found.workers, found.gpus


def gpus_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU, checked without importing torch or xgboost."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()


def announce_placement(profile: str | None) -> None:
    """One log line when a GPU profile's GPUs are missing: the run goes on, on CPU, and says so."""
    _, gpus = profile_workers(profile)
    if gpus and not gpus_visible():
        log.warning(
            "GPU profile %s asks for %d GPU(s) per worker but this machine shows none: CPU fallback, "
            "training on CPU (slower; the model is the same kind)",
            profile,
            gpus,
        )


def local_workers(framework: str, workers: int | None, profile: str | None) -> int:
    """How many local processes to start: ``--workers`` if given, else what the profile runs on a cluster.

    A torch profile of W workers x G GPUs runs W*G ranks (torchrun: one process per GPU); XGBoost
    runs one worker per pod whatever its GPU count.
    """
    if workers is not None:
        return check_workers(workers)
    count, gpus = profile_workers(profile)
    total = count * max(gpus, 1) if framework == "torch" else count
    if profile:
        log.info("GPU profile %s: %d worker(s) x %d GPU(s): %d local process(es)", profile, count, gpus, total)
    return check_workers(total)


@dataclass(frozen=True)
class TorchRendezvous:
    """torchrun's multi-node flags, from the indexed Job's environment or for a local run."""

    nnodes: int
    node_rank: int
    nproc_per_node: int
    master_addr: str
    master_port: int
    run_id: str = "tradewind"

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    def torchrun_flags(self) -> list[str]:
        return [
            f"--nnodes={self.nnodes}",
            f"--node-rank={self.node_rank}",
            f"--nproc-per-node={self.nproc_per_node}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={self.master_addr}:{self.master_port}",
            f"--rdzv-id={self.run_id}",
            "--max-restarts=0",  # a failed rank fails the run; the Job's backoffLimit retries pods
        ]


@dataclass(frozen=True)
class CollectiveEnv:
    """The ``DMLC_*`` variables of one XGBoost collective worker."""

    tracker_uri: str
    tracker_port: int
    num_workers: int
    task_id: int
    tracker_hosted: bool = False  # True: someone else (the local launcher) runs the tracker

    @property
    def hosts_tracker(self) -> bool:
        """Worker 0 runs the tracker, unless the local launcher already does."""
        return self.task_id == 0 and not self.tracker_hosted

    def communicator_args(self) -> dict[str, Any]:
        return {
            "dmlc_communicator": "rabit",
            "dmlc_tracker_uri": self.tracker_uri,
            "dmlc_tracker_port": self.tracker_port,
            "dmlc_task_id": str(self.task_id),
            "dmlc_timeout": rendezvous_timeout(),
        }


def rendezvous_timeout(env: Mapping[str, str] | None = None) -> int:
    """Seconds to wait for the other workers (``TRADEWIND_RENDEZVOUS_TIMEOUT``, default 30 minutes)."""
    value = (env if env is not None else os.environ).get(RENDEZVOUS_TIMEOUT_ENV)
    return int(value) if value else DEFAULT_RENDEZVOUS_TIMEOUT_S


def kubernetes_rendezvous(env: Mapping[str, str]) -> TorchRendezvous | None:
    """torchrun flags from the env of :func:`tradewind.k8s.specs.rendezvous_env`; None when it is absent."""
    if not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK"} <= set(env):
        return None
    return TorchRendezvous(
        nnodes=int(env["WORLD_SIZE"]),
        node_rank=int(env["NODE_RANK"]),
        nproc_per_node=int(env.get("NPROC_PER_NODE") or 1),
        master_addr=env["MASTER_ADDR"],
        master_port=int(env["MASTER_PORT"]),
        run_id=env.get("TRADEWIND_JOB_NAME") or "tradewind",
    )


def collective_env(env: Mapping[str, str]) -> CollectiveEnv | None:
    """This process's XGBoost collective settings, or None when it is not a collective worker."""
    if "DMLC_TASK_ID" not in env or int(env.get("DMLC_NUM_WORKER") or 1) <= 1:
        return None
    return CollectiveEnv(
        tracker_uri=env.get("DMLC_TRACKER_URI") or LOCALHOST,
        tracker_port=int(env["DMLC_TRACKER_PORT"]),
        num_workers=int(env["DMLC_NUM_WORKER"]),
        task_id=int(env["DMLC_TASK_ID"]),
        tracker_hosted=env.get(TRACKER_HOSTED_ENV) == "1",
    )


def is_torchrun_worker(env: Mapping[str, str]) -> bool:
    """Whether torchrun started this process (it sets both, and they are what DDP's init reads)."""
    return "TORCHELASTIC_RUN_ID" in env and "LOCAL_RANK" in env


def plan_role(framework: str, workers: int | None, profile: str | None, env: Mapping[str, str]) -> str:
    """``torch-worker``, ``xgboost-worker``, ``launch`` or ``single`` (see the module docstring)."""
    if framework == "torch" and is_torchrun_worker(env):
        return "torch-worker"
    if framework == "xgboost" and collective_env(env) is not None:
        return "xgboost-worker"
    if framework == "torch" and workers is None and (rdzv := kubernetes_rendezvous(env)) and rdzv.world_size > 1:
        return "launch"
    return "launch" if local_workers(framework, workers, profile) > 1 else "single"


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port free right now (bound to port 0, read back, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --- launching (the parent process) ---------------------------------------------------------------


@dataclass
class LaunchResult:
    """What a distributed run returned: the exit code and rank 0's stdout (the JSON summary)."""

    returncode: int
    stdout: str
    elapsed_s: float


def worker_command(worker_args: Sequence[str]) -> list[str]:
    """How every worker runs: the same CLI module, under the same interpreter."""
    return [sys.executable, "-m", "tradewind", *worker_args]


def local_device_note(framework: str, nproc: int) -> str:
    """One line on where local workers will compute; says so clearly when that is CPU."""
    from tradewind.training.runtime import cuda_available

    gpus = _cuda_device_count() if cuda_available() else 0
    if framework == "torch" and gpus >= nproc:
        return f"{nproc} torch rank(s) on {gpus} visible GPU(s) with nccl"
    if framework == "torch":
        return f"{nproc} torch rank(s) on CPU with gloo (CPU fallback: {gpus} GPU(s) visible, {nproc} needed)"
    return f"{nproc} xgboost worker(s); device from params ({gpus} GPU(s) visible)"


def _cuda_device_count() -> int:
    import torch

    return int(torch.cuda.device_count())


def launch_torchrun(
    worker_args: Sequence[str],
    rendezvous: TorchRendezvous,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> LaunchResult:
    """Run ``torchrun <rendezvous flags> -m tradewind <worker_args>`` and wait for it.

    torchrun owns the processes: it restarts nothing (``--max-restarts=0``) and, when one rank
    fails, stops the others and exits non-zero. Worker logs pass through on stderr; stdout is
    captured because rank 0 prints the run's JSON summary there.
    """
    command = [sys.executable, "-m", "torch.distributed.run", *rendezvous.torchrun_flags(), "-m", "tradewind"]
    command += list(worker_args)
    log.info(
        "torchrun: node %d of %d, %d process(es) per node, c10d rendezvous at %s:%d",
        rendezvous.node_rank,
        rendezvous.nnodes,
        rendezvous.nproc_per_node,
        rendezvous.master_addr,
        rendezvous.master_port,
    )
    started = time.monotonic()
    proc = start_owned(command, stdout=subprocess.PIPE, text=True, env=dict(env or os.environ))
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    except BaseException:  # a timeout, a signal: torchrun and its ranks end with this process
        stop_group(proc)
        raise
    returncode = wait_owned(proc)
    elapsed = time.monotonic() - started
    log.info("torchrun exited %d after %.1fs", returncode, elapsed)
    return LaunchResult(returncode, stdout, elapsed)


def launch_torch_local(
    worker_args: Sequence[str], nproc: int, *, env: Mapping[str, str] | None = None, timeout_s: float | None = None
) -> LaunchResult:
    """``nproc`` DDP ranks on this machine: torchrun with a c10d rendezvous on 127.0.0.1 and a free port."""
    check_workers(nproc)
    log.info("Local DDP: %s", local_device_note("torch", nproc))
    rendezvous = TorchRendezvous(1, 0, nproc, LOCALHOST, free_port(), run_id=f"tradewind-local-{os.getpid()}")
    return launch_torchrun(worker_args, rendezvous, env=env, timeout_s=timeout_s)


def launch_xgboost_local(
    worker_args: Sequence[str], workers: int, *, env: Mapping[str, str] | None = None, timeout_s: float | None = None
) -> LaunchResult:
    """A RabitTracker on 127.0.0.1 in this process plus ``workers`` CLI subprocesses with ``DMLC_*`` set.

    Waits for every worker; when one fails, the others are stopped (a rank left waiting in an
    all-reduce would otherwise sit out the whole collective timeout).
    """
    from xgboost.tracker import RabitTracker

    check_workers(workers)
    log.info("Local XGBoost collective: %s", local_device_note("xgboost", workers))
    tracker = RabitTracker(n_workers=workers, host_ip=LOCALHOST, port=0, sortby="task", timeout=rendezvous_timeout())
    tracker.start()
    args = tracker.worker_args()
    log.info("xgboost tracker at %s:%s for %d workers", args["dmlc_tracker_uri"], args["dmlc_tracker_port"], workers)
    base = {
        **(env or os.environ),
        "DMLC_TRACKER_URI": str(args["dmlc_tracker_uri"]),
        "DMLC_TRACKER_PORT": str(args["dmlc_tracker_port"]),
        "DMLC_NUM_WORKER": str(workers),
        TRACKER_HOSTED_ENV: "1",
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tradewind-xgb-") as tmp:
        outputs = [Path(tmp) / f"rank{rank}.out" for rank in range(workers)]
        returncode = _run_workers(worker_command(worker_args), base, outputs, timeout_s)
        stdout = outputs[0].read_text(encoding="utf-8")
    if returncode == 0:
        tracker.wait_for(60)
    elapsed = time.monotonic() - started
    log.info("xgboost collective exited %d after %.1fs", returncode, elapsed)
    return LaunchResult(returncode, stdout, elapsed)


def _run_workers(command: list[str], base: dict[str, str], outputs: list[Path], timeout_s: float | None) -> int:
    """Start one process per output file (``DMLC_TASK_ID`` = its index); the first non-zero code, or 0."""
    procs: list[subprocess.Popen[bytes]] = []
    handles = [path.open("wb") for path in outputs]
    try:
        for rank, handle in enumerate(handles):
            procs.append(start_owned(command, env={**base, "DMLC_TASK_ID": str(rank)}, stdout=handle))
        return _wait_all(procs, timeout_s)
    finally:
        for proc in procs:
            stop_group(proc, grace_s=0)  # a worker left waiting in an all-reduce, and what it started
        for handle in handles:
            handle.close()


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout_s: float | None) -> int:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        codes = [p.poll() for p in procs]
        failed = [(rank, c) for rank, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            rank, code = failed[0]
            log.error("xgboost worker %d exited %s: stopping the other workers", rank, code)
            return int(code or 1)
        if all(c == 0 for c in codes):
            return 0
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"xgboost workers still running after {timeout_s}s")
        time.sleep(_POLL_S)


# --- inside a worker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerGroup:
    """This process's place in a distributed run: what a fitter needs to shard rows and to write once."""

    rank: int
    world_size: int

    @property
    def is_writer(self) -> bool:
        """Rank 0 alone writes the model, the checkpoints and the summary."""
        return self.rank == 0

    def shard(self, rows: int) -> slice:
        """Every ``world_size``-th row from ``rank``: each shard spans the whole time range."""
        check_workers(self.world_size, rows)
        return slice(self.rank, None, self.world_size)


@dataclass(frozen=True)
class DdpGroup(WorkerGroup):
    """A rank of a torch process group: wraps the module in DDP and splits every epoch's order."""

    local_rank: int = 0
    device: str = "cpu"
    backend: str = "gloo"

    def wrap(self, module: nn.Module) -> nn.Module:
        """``DistributedDataParallel(module)``: parameters broadcast from rank 0, gradients averaged."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def batch_size(self, global_batch: int) -> int:
        """Per-rank batch so that one step across ranks still sees about ``global_batch`` rows."""
        return max(1, math.ceil(global_batch / self.world_size))

    def epoch_order(self, rows: int, shuffle_seed: int) -> torch.Tensor:
        """This rank's rows of an epoch, from ``DistributedSampler``.

        The sampler draws ``randperm(rows)`` from a generator seeded ``seed + epoch`` (here
        ``shuffle_seed``, epoch 0): the single-worker trainer's own order. Rank r takes every
        ``world_size``-th row of it, so step k of all ranks together covers the single-worker
        batch k, and the DDP-averaged gradient is that batch's gradient (up to the last, padded
        batch and dropout masks).
        """
        import torch
        from torch.utils.data import Dataset, DistributedSampler

        check_workers(self.world_size, rows)
        rows_as_dataset = cast("Dataset[int]", range(rows))  # the sampler only needs len()
        sampler: DistributedSampler[int] = DistributedSampler(
            rows_as_dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=shuffle_seed
        )
        return torch.as_tensor(list(iter(sampler)), dtype=torch.int64)

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (an early-stopping decision must be the same everywhere)."""
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())


@contextlib.contextmanager
def ddp_group(env: Mapping[str, str] | None = None) -> Iterator[DdpGroup]:
    """Join the torchrun-started process group (nccl on a GPU this rank may own, gloo otherwise)."""
    import datetime as dt

    import torch
    import torch.distributed as dist

    env = env if env is not None else os.environ
    # torchrun starts each rank in a session of its own: a rank must not outlive a torchrun that was
    # killed (the trainer's task was), or it would hold its GPU and its port until the collective timeout.
    die_with_parent()
    local_rank = int(env.get("LOCAL_RANK", "0"))
    on_gpu = torch.cuda.is_available() and torch.cuda.device_count() > local_rank
    backend, device = ("nccl", f"cuda:{local_rank}") if on_gpu else ("gloo", "cpu")
    if on_gpu:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=dt.timedelta(seconds=rendezvous_timeout(env)))
    group = DdpGroup(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=device, backend=backend
    )
    log.info("DDP rank %d of %d (local rank %d) on %s, %s", group.rank, group.world_size, local_rank, device, backend)
    if not on_gpu and group.rank == 0:
        log.info("DDP: no GPU for local rank %d: training on CPU with gloo (CPU fallback)", local_rank)
    try:
        yield group
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def xgboost_collective(settings: CollectiveEnv) -> Iterator[WorkerGroup]:
    """Join the XGBoost collective; worker 0 first starts the tracker when nobody else runs it.

    The tracker is started before this worker reads any data, so the others (which retry their
    connection) find it while they are still loading theirs.
    """
    from xgboost import collective
    from xgboost.tracker import RabitTracker

    tracker = None
    if settings.hosts_tracker:
        tracker = RabitTracker(
            n_workers=settings.num_workers,
            host_ip=settings.tracker_uri,
            port=settings.tracker_port,
            sortby="task",
            timeout=rendezvous_timeout(),
        )
        tracker.start()
        log.info("xgboost tracker hosted by worker 0 at %s:%d", settings.tracker_uri, settings.tracker_port)
    with contextlib.ExitStack() as stack:
        with _native_stdout_to_stderr():  # init prints "Task N got rank N" on C stdout: keep stdout JSON-only
            stack.enter_context(collective.CommunicatorContext(**settings.communicator_args()))
        group = WorkerGroup(rank=collective.get_rank(), world_size=collective.get_world_size())
        log.info("xgboost collective: worker %d of %d", group.rank, group.world_size)
        yield group
    if tracker is not None:
        tracker.wait_for(60)


@contextlib.contextmanager
def _native_stdout_to_stderr() -> Iterator[None]:
    """Send what native code writes to file descriptor 1 to stderr for the duration of the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
