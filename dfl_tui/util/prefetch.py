"""A background thread that keeps the next results of a function ready (training batches).

``Prefetcher(produce, depth)`` calls ``produce()`` again and again in a daemon thread and keeps up
to ``depth`` results in a queue; :meth:`Prefetcher.get` hands them over in order. An exception
raised by ``produce`` is handed over the same way (raised by ``get``) and ends the thread, so a
loader error reaches the training loop with its own message.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


class Prefetcher:
    def __init__(self, produce: Callable[[], Any], depth: int = 1, name: str = "prefetch",
                 setup: Callable[[], None] | None = None) -> None:
        self.produce = produce
        self.setup = setup
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> "Prefetcher":
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    @property
    def started(self) -> bool:
        return self._started

    def _run(self) -> None:
        if self.setup is not None:
            self.setup()
        while not self._stop.is_set():
            try:
                item: Any = (self.produce(), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                item = (None, exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if item[1] is not None:
                return

    def get(self, timeout: float | None = None) -> Any:
        """The next result (starting the thread if needed); raises what ``produce`` raised, and
        ``queue.Empty`` after ``timeout`` seconds."""
        self.start()
        if timeout is not None:
            value, exc = self._queue.get(timeout=timeout)
        else:
            while True:
                try:
                    value, exc = self._queue.get(timeout=1.0)
                    break
                except queue.Empty:
                    if not self._thread.is_alive() and self._queue.empty():
                        raise RuntimeError(f"the {self._thread.name} thread stopped") from None
        if exc is not None:
            raise exc
        return value

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._started:
            self._thread.join(timeout=timeout)


__all__ = ["Prefetcher"]
