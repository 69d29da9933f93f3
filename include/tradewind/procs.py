"""Children that die with their parent: how the project starts and stops a process it owns.

A stage started by an Airflow task, the ``torchrun`` or XGBoost workers started by a trainer: each is
started by :func:`start_owned`, which puts it in a session (and so a process group) of its own and,
on Linux, asks the kernel to send it ``SIGKILL`` the moment the process that started it exits
(``prctl(PR_SET_PDEATHSIG)``). So:

* a parent killed with ``SIGKILL`` (a task whose process group was killed, an OOM kill) takes its
  child with it, and the child's own children in turn when they were started the same way;
* :func:`stop_group` ends a child *and everything it started* that stayed in its group: ``SIGTERM`` to
  the group, a grace period for the child to exit, then ``SIGKILL`` to the group;
* :func:`wait_owned` waits for a child and then kills what it left behind in its group, before the
  child's pid (its group's id) is released.

The parent-death signal is Linux's; elsewhere (macOS) a child outlives a parent killed with
``SIGKILL`` and only the group handling applies (:data:`PARENT_DEATH_SIGNAL` is False there, and
:func:`start_owned` logs it once). The kernel sends the signal when the *thread* that started the
child exits: start owned children from a thread that outlives them (the main thread, as every
caller in the project does).

Standard library only: this module sits at the bottom of the core, beside ``tradewind.config``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

PARENT_DEATH_SIGNAL = sys.platform.startswith("linux")
"""Whether a child started here dies with its parent even when the parent is killed with SIGKILL."""

_PR_SET_PDEATHSIG = 1
DEFAULT_GRACE_S = 10.0
_warned = threading.Event()


def _prctl() -> Callable[..., int] | None:
    if not PARENT_DEATH_SIGNAL:
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return libc.prctl


_PRCTL = _prctl()


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits; False where it cannot.

    ``parent`` is the pid the caller expects as its parent (default: the current one). When the
    parent has already gone (it exited between the fork and this call, and this process was
    re-parented), the signal is sent now: the process never outlives the parent it was started by.
    """
    if _PRCTL is None:
        return False
    expected = os.getppid() if parent is None else parent
    if _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != expected:
        os.kill(os.getpid(), sig)
    return True


def _child_setup(parent: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec: nothing but the prctl call
        die_with_parent(parent)

    return setup


def start_owned(command: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(command, **popen_kwargs)`` in a new session that dies with this process.

    The child leads a process group of its own (its pid is the group's id), so :func:`stop_group`
    reaches whatever it starts; on Linux it gets ``SIGKILL`` when this process exits, however it exits.
    """
    if _PRCTL is None and not _warned.is_set():
        _warned.set()
        log.warning(
            "%s has no parent-death signal: a child outlives this process if it is killed with SIGKILL",
            sys.platform,
        )
    setup = _child_setup(os.getpid()) if _PRCTL is not None else None
    return subprocess.Popen(list(command), start_new_session=True, preexec_fn=setup, **popen_kwargs)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is empty (or not this user's)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait_exited(pid: int) -> None:
    """Wait until child ``pid`` has exited without reaping it: its pid, the group id, stays taken."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # macOS: no waitid; the group is then signalled right after the reaping
        return
    try:
        waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        pass  # already reaped (by stop_group, from a signal handler)


def wait_owned(proc: subprocess.Popen[Any]) -> int:
    """Wait for an owned child to exit, kill what it left running in its group, return its exit code."""
    if proc.returncode is None:
        _wait_exited(proc.pid)
    if signal_group(proc.pid, signal.SIGKILL):
        log.info("killed what process %d left running in its process group", proc.pid)
    return proc.wait()


def stop_group(proc: subprocess.Popen[Any], grace_s: float = DEFAULT_GRACE_S) -> int:
    """End an owned child and its group: SIGTERM, up to ``grace_s`` for the child to exit, SIGKILL.

    Returns the child's exit code (negative: the signal that ended it). Safe to call on a child that
    has exited already (what it left in its group is killed all the same).
    """
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("process %d did not exit within %.0fs of SIGTERM: killing its group", proc.pid, grace_s)
    signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()
