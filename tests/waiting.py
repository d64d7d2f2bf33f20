"""Polling with a deadline, shared by the runtime and e2e helpers."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(what: str, cond: Callable[[], Any], timeout: float, interval: float, *,
             catch: tuple[type[BaseException], ...] = (AssertionError,),
             accept: Callable[[Any], bool] = bool,
             details: Callable[[], str] = lambda: "") -> Any:
    """Call COND until ACCEPT(result) holds and return that result; errors in CATCH count as
    'not yet'. On timeout raise TimeoutError naming WHAT, the last result and DETAILS()."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if accept(last):
                return last
        except catch as err:
            last = err
        time.sleep(interval)
    extra = details()
    raise TimeoutError(f"{what}: not within {timeout}s (last: {last!r})" + (f"\n{extra}" if extra else ""))
