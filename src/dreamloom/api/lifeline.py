"""An API process ends when the serving process that started it dies.

Without this, SIGKILL of ``dreamloom serve --processes N`` left its API processes answering:
they admitted jobs that no scheduler would ever run, and kept a share of the port. Two
mechanisms, since neither is enough alone:

- Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) sends SIGTERM at once, but it
  fires when the *thread* that forked the child exits, not the process, and exists on Linux
  only;
- a watcher thread polls ``os.getppid()``: when the parent dies the process is re-parented,
  whatever thread started it and on any POSIX system.

SIGTERM lets uvicorn stop accepting and finish the requests in flight; whatever is still
running ``GRACE_SECONDS`` later (a stream that waits for a scheduler that is gone) is cut.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_SECONDS = 0.5
GRACE_SECONDS = 3.0


def die_with_parent(parent_pid: int) -> None:
    """Arrange for this process to end when process ``parent_pid``, its parent, dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    # Also covers a parent that died before the prctl call: getppid() has changed already.
    threading.Thread(
        target=_watch, args=(parent_pid,), name="dreamloom-lifeline", daemon=True
    ).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)
