"""SIGTERM (a CI job cancelled, ``timeout``, ``kill``) ends a run as Ctrl-C does.

Python's default for SIGTERM is to die at once: a cache entry being written leaves its
temporary file, an xdist controller leaves its run folder of answers in the temp dir,
and nothing says what was kept. As a KeyboardInterrupt, pytest stops, the reports say
the run is partial, no baseline is saved and every ``finally`` runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

Handler = Callable[[int, object], None]


def sigterm_as_interrupt() -> Handler | None:
    """Install the handler and return it, or None when someone else handles SIGTERM.

    Only from the main thread, where Python runs signal handlers; in-process pytester runs
    find the host's handler installed and leave it alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    return interrupt


def restore(handler: Handler | None) -> None:
    """Put the default back if ours is still installed (a host process is left as it was)."""
    if handler is not None and signal.getsignal(signal.SIGTERM) is handler:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
