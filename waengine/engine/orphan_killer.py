"""Chromedriver's guard: when the gateway process dies, even by SIGKILL, kill chromedriver's
process group, which holds every Chromium it started (they keep its group when re-parented).

Run as `python orphan_killer.py <pgid> <parent pid>` (stdlib only, no package import) in a session
of its own, so a SIGKILL of the gateway's process group does not take the guard with it.
It learns of the gateway's death from PR_SET_PDEATHSIG (SIGTERM, set by the gateway when it
starts the guard) or, should that signal be missed, from its parent process id changing.
"""

from __future__ import annotations

import os
import signal
import sys


def watch(pgid: int, parent: int) -> None:
    """Block until told to (SIGTERM) or orphaned, then SIGKILL the process group."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    while os.getppid() == parent:
        if signal.sigtimedwait({signal.SIGTERM}, 0.5) is not None:
            break
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass  # the group is already gone


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
