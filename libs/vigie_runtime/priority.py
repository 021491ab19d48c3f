"""Lower the CPU priority of the calling thread: work that may wait yields the cores.

On a node the services share, a stage whose work is not on the live path (storage redacting the
frames of alert snapshots and clips, about a second of CPU a frame) competes for the same cores
as detection, whose frames go stale when it waits. Linux keeps a nice value per thread, so the
thread of such a stage can yield without slowing the rest of its process (the archive, the gRPC
API); threads it starts later inherit it. Lowering one's own priority needs no privilege;
elsewhere than Linux the call would lower the whole process, so it is skipped.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int, idle: bool = False) -> bool:
    """Add ``nice`` (0..19) to the calling thread's nice value and, with ``idle``, move it to
    SCHED_IDLE, where it runs only on a core nothing else wants; True when done.

    Nice alone is not enough on two cores: a niced thread still occupies its core, so the live
    path's wake-ups land beside detection and take its core in turns. Linux treats a core that
    runs only SCHED_IDLE work as idle when it places a waking thread, so they go there instead.
    """
    if nice <= 0 and not idle:
        return False
    if not sys.platform.startswith("linux"):
        log.warning(
            "thread priority left as it is: per-thread priority needs Linux",
            extra={"nice": nice, "idle": idle},
        )
        return False
    thread = threading.get_native_id()
    try:
        after = min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice)
        os.setpriority(os.PRIO_PROCESS, thread, after)
        if idle:
            os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:
        log.warning(
            "thread priority left as it is",
            extra={"nice": nice, "idle": idle, "error": str(exc)},
        )
        return False
    log.info(
        "thread yields the cores to the live path",
        extra={"stage_thread": threading.current_thread().name, "nice": after, "idle": idle},
    )
    return True
