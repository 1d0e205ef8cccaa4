"""Is the process that wrote something still alive? (stale runs, leftover temporary folders)

A writer is identified by its pid and host. Liveness is only decided for this host (a pid on
another machine says nothing here) and, as with any pid check, a reused pid reads as alive: the
check errs on the side of leaving things alone.
"""
from __future__ import annotations

import hashlib
import os
import socket


def this_host() -> str:
    return socket.gethostname()


def host_tag(host: str) -> str:
    """8 hex digits naming a host in file names (host names may hold dots or be long)."""
    return hashlib.sha256(host.encode("utf-8")).hexdigest()[:8]


def process_alive(pid: int) -> bool:
    """True unless process ``pid`` of this host is known to be gone."""
    if os.name == "nt":  # os.kill would terminate the process there: never probe
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def writer_gone(pid: object, host: object) -> bool:
    """True when the writer ``(pid, host)`` ran on this host and its process has ended."""
    return isinstance(pid, int) and pid > 0 and host == this_host() and not process_alive(pid)
