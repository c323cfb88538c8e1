"""Debian's headless Chromium, driven from its command line: the DOM after the page ran
(`--dump-dom`) and a screenshot. Run as a child process without blocking the event loop,
so a daemon served by the same loop keeps answering the browser."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-sync",
    "--disable-component-update",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium_binary() -> str:
    """The browser; a missing one skips outside CI and fails in CI (which installs it)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test")
    pytest.skip(message)


async def _run(args: list[str], *, profile: Path, timeout: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        "nice",  # lowest priority: the daemon under test shares the machine's few cores
        "-n",
        "19",
        chromium_binary(),
        *FLAGS,
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"chromium did not finish within {timeout:.0f}s: {args}")
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def dump_dom(url: str, *, profile: Path, timeout: float = 90) -> str:
    """The page's DOM as the browser built it, serialized."""
    return await _run(["--dump-dom", url], profile=profile, timeout=timeout)


async def screenshot(
    url: str,
    path: Path,
    *,
    profile: Path,
    size: tuple[int, int] = (1280, 1600),
    dark: bool = True,
    timeout: float = 90,
) -> None:
    """A PNG of the page's first `size` pixels (dark colour scheme by default)."""
    args = [f"--screenshot={path}", f"--window-size={size[0]},{size[1]}"]
    if dark:
        args.append("--force-dark-mode")
    await _run([*args, url], profile=profile, timeout=timeout)
    with path.open("rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
