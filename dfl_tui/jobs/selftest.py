"""A tiny step that exercises the job machinery (used by the tests and `dfl-tui jobs`' own checks).

It counts through ``items`` with a pause between them, can crash on purpose, and
writes a marker file when it stops cleanly, so tests can tell a clean stop from a kill.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DflError
from ..options import opt


@dataclass
class SelfTestOptions:
    items: int = opt(10, "how many items to count through", min=0)
    delay: float = opt(0.05, "seconds per item", min=0)
    crash_at: int = opt(-1, "raise an unexpected error at this item (-1: never)")
    fail_at: int = opt(-1, "raise a user-facing error at this item (-1: never)")
    marker: str = opt("", "file to write when the job ends cleanly or is stopped")


def run_selftest(ctx, o: SelfTestOptions) -> dict:
    ctx.stage("counting", total=o.items, unit="items")
    done = 0
    try:
        for i in range(o.items):
            ctx.check_cancel()
            if i == o.crash_at:
                raise RuntimeError(f"selftest crash at item {i}")
            if i == o.fail_at:
                raise DflError(f"selftest: item {i} is bad, fix it and run again")
            time.sleep(o.delay)
            done = i + 1
            ctx.progress(done, o.items, even=done // 2)
        ctx.log(f"counted {done} items")
    finally:
        if o.marker:
            Path(o.marker).write_text(f"{done}\n")
    return {"counted": done}
