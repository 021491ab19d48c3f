"""Lower the CPU priority of the calling thread: work that may wait yields the cores.

On a node the services share, a stage whose work is not on the live path (storage redacting the
frames of alert snapshots and clips, about a second of CPU a frame) competes for the same cores
as detection, whose frames go stale when it waits. Linux keeps a nice value per thread, so the
thread of such a stage can yield without slowing the rest of its process (the archive, the gRPC
API); threads it starts later (OpenCV's pool) inherit it. Raising one's own nice value needs no
privilege; elsewhere than Linux the call would lower the whole process, so it is skipped.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int) -> bool:
    """Add ``nice`` (0..19) to the calling thread's nice value; True when done."""
    if nice <= 0:
        return False
    if not sys.platform.startswith("linux"):
        log.warning(
            "thread priority left as it is: per-thread nice needs Linux", extra={"nice": nice}
        )
        return False
    thread = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, before + nice))
    except OSError as exc:
        log.warning("thread priority left as it is", extra={"nice": nice, "error": str(exc)})
        return False
    log.info(
        "thread yields the cores to the live path",
        extra={"stage_thread": threading.current_thread().name, "nice": min(19, before + nice)},
    )
    return True
