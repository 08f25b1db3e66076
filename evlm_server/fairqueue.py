"""The server's queue of suggests waiting for the engine, taken in turn across clients.

A client that sends a hundred requests does not hold back another client's one: each client
keeps its own first-in-first-out line, and the lines are served round-robin. Not thread-safe:
the server guards it with its condition variable.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterator
from typing import Generic, Protocol, TypeVar


class Queued(Protocol):
    client: Hashable  # whose line the item waits in
    pixels: int  # what decoding its images will hold


T = TypeVar("T", bound=Queued)


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._lines: OrderedDict[Hashable, deque[T]] = OrderedDict()  # in turn order
        self._size = 0

    def push(self, item: T) -> None:
        self._lines.setdefault(item.client, deque()).append(item)
        self._size += 1

    def pop(self, max_pixels: int | None = None) -> T | None:
        """The next item in turn, or None if there is none or it holds more than `max_pixels`."""
        if not self._lines:
            return None
        client, line = next(iter(self._lines.items()))
        if max_pixels is not None and line[0].pixels > max_pixels:
            return None
        item = line.popleft()
        self._size -= 1
        if line:
            self._lines.move_to_end(client)  # its next item waits for everyone else's turn
        else:
            del self._lines[client]
        return item

    def remove(self, item: T) -> bool:
        line = self._lines.get(item.client)
        if line is None or item not in line:
            return False
        line.remove(item)
        self._size -= 1
        if not line:
            del self._lines[item.client]
        return True

    def position(self, item: T) -> int:
        """1 for the next item to go, 0 for one not queued."""
        return next((i for i, queued in enumerate(self, 1) if queued is item), 0)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        """The items in the order `pop` would give them, if nothing more arrived."""
        lines = [list(line) for line in self._lines.values()]
        for depth in range(max(map(len, lines), default=0)):
            for line in lines:
                if depth < len(line):
                    yield line[depth]
