#!/usr/bin/env python3
"""Health probe of the pilotshare containers (installed in the image as ``pilotshare-probe``).

    pilotshare-probe http://127.0.0.1:8000/readyz    healthy when the URL answers 2xx
    pilotshare-probe tcp:1883 tcp:5432              healthy when this container holds an
                                                    established TCP connection to each port

The second form is for processes without an HTTP endpoint (the ingest): being connected to
the broker and to the database is what it needs to do its work. Exit 0 when healthy, 1 with one
line on standard error when not. Standard library only: it runs in any Python 3.11 image.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_S = 4.0
ESTABLISHED = "01"  # the st column of /proc/net/tcp


def remote_ports(tables: list[str]) -> set[int]:
    """Remote ports of the established connections listed in /proc/net/tcp-style text."""
    ports: set[int] = set()
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == ESTABLISHED:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def check_http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}"


def check_tcp(ports: list[int], proc: Path = Path("/proc/net")) -> str | None:
    tables = [p.read_text() for p in (proc / "tcp", proc / "tcp6") if p.exists()]
    missing = sorted(set(ports) - remote_ports(tables))
    if missing:
        return "no established connection to port " + ", ".join(map(str, missing))
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: pilotshare-probe URL | tcp:PORT [tcp:PORT …]", file=sys.stderr)
        return 2
    if argv[0].startswith(("http://", "https://")):
        problem = check_http(argv[0])
    else:
        try:
            ports = [int(a.removeprefix("tcp:")) for a in argv]
        except ValueError:
            print(f"pilotshare-probe: not a URL or tcp:PORT: {argv}", file=sys.stderr)
            return 2
        problem = check_tcp(ports)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
