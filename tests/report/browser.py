"""Headless Chromium and poppler helpers for the report tests.

Tests that need them skip when the tool is absent, unless SPINEBQ_REQUIRE_CHROMIUM=1, in which case they fail
(CI installs Debian's ``chromium`` and ``poppler-utils``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: Switches that keep Chromium off the network: no background services, no DNS, a dead proxy.
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def need_tool(*names: str) -> str:
    """Path of the first tool found, or skip (fail under SPINEBQ_REQUIRE_CHROMIUM=1)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{' / '.join(names)} not installed (apt-get install chromium poppler-utils)"
    if os.environ.get("SPINEBQ_REQUIRE_CHROMIUM") == "1":
        pytest.fail(message + " but SPINEBQ_REQUIRE_CHROMIUM=1")
    pytest.skip(message)


def chromium(url: str, work: Path, *extra: str, timeout: float = 120) -> tuple[str, set[str]]:
    """Run headless Chromium offline on ``url``; return (stdout, URLs of every network request in its net log)."""
    exe = need_tool("chromium", "chromium-browser", "google-chrome")
    work.mkdir(parents=True, exist_ok=True)
    profile = work / f"profile{len(list(work.glob('profile*')))}"
    netlog = profile.with_suffix(".netlog.json")
    if not any(e.startswith(("--screenshot", "--dump-dom", "--print-to-pdf")) for e in extra):
        extra = (*extra, "--dump-dom")  # headless Chromium exits after dumping or capturing the page
    cmd = [exe, *OFFLINE, f"--user-data-dir={profile}", f"--log-net-log={netlog}", *extra, url]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    log = netlog.read_text(errors="replace") if netlog.exists() else ""
    urls = set(re.findall(r'"url":"([a-z]+://[^"/]*)', log))
    return run.stdout, urls


def network_hosts(urls: set[str]) -> set[str]:
    """The http(s) origins among request URLs."""
    return {u for u in urls if u.startswith(("http://", "https://"))}
