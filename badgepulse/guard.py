"""Exec a command that dies with the process that started it.

    python -S guard.py PARENT_PID SIGNAL CMD [ARG...]

On Linux it asks the kernel (prctl PR_SET_PDEATHSIG) to send SIGNAL to this process when
its parent dies, even by SIGKILL, then execs CMD, which keeps that setting. This is what
lets `badgepulse up` be killed outright without leaving a broker, Redis or worker behind.

A wrapper rather than Popen(preexec_fn=...): preexec_fn is unsafe once the parent has
threads (asyncio's resolver, aiokafka, redis-py all start some). It imports only the
standard library and runs under `python -S`, so it adds a few tens of milliseconds.
The signal fires when the *thread* that forked the child exits, so spawn from a thread
that lives as long as the child (the main thread, in practice).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_GONE = 75  # EX_TEMPFAIL: the parent died before the guard was armed


def arm(parent: int, sig: signal.Signals) -> None:
    """Have `sig` sent to this process when its parent dies; exit if it already has."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the supervisor's own shutdown is all there is
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    # The parent may have died between fork and prctl: then no signal will ever come, and
    # this process has already been handed to init.
    if os.getppid() != parent:
        sys.exit(PARENT_GONE)


def main(argv: list[str]) -> None:
    parent, signame, *cmd = argv
    if not cmd:
        sys.exit("usage: guard.py PARENT_PID SIGNAL CMD [ARG...]")
    arm(int(parent), signal.Signals[signame])
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
