"""Failed-login backoff and the cap on concurrent password checks, shared by every browser session.

Streamlit runs each script run in a thread of one process, so a delay inside one run slows
nothing: an attacker opens more tabs. These objects live once per dashboard process
(``dashboard/guard.py`` hands them out) and count across sessions:

- ``LoginThrottle``: after ``free`` failed logins for a user name (or ``free_per_client`` from
  one client address), the next attempt is refused until ``delay_s`` has passed since the last
  failure, and the delay doubles with each further failure (up to ``max_delay_s``). An attempt
  counts from the moment it starts, so 50 simultaneous guesses get ``free`` checks, not 50.
  A successful login clears the user name's count; a client's count is forgotten an hour after
  its last failure (logging in with one's own account must not reset it).
- ``HashSlots``: at most ``slots`` Argon2 checks at once (64 MiB each); a check that finds no free
  slot within ``wait_s`` is refused as "busy".

Plain Python: no Streamlit import, so the rules are tested without a browser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class _Count:
    failures: int = 0
    running: int = 0
    last_failure: float = 0.0
    refusal_logged_until: float = 0.0  # the lockout whose first refusal was audited


@dataclass(frozen=True)
class Refusal:
    """Why an attempt may not be checked now: which key is locked and for how long."""

    kind: str  # "user name" or "client"
    reason: str  # "locked out" (failures) or "checks running" (the free attempts are being checked)
    retry_after_s: int
    first: bool  # the first refusal of this lockout (audit it; the next ones are not logged again)


class LoginThrottle:
    def __init__(self, *, free: int = 5, free_per_client: int = 20, delay_s: float = 30.0,
                 max_delay_s: float = 900.0, forget_after_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.free_per_client = free, free_per_client
        self.delay_s, self.max_delay_s, self.forget_after_s = delay_s, max_delay_s, forget_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], _Count] = {}

    def _keys(self, name: str, client: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = [(("user name", name.lower()), self.free)]
        if client:
            keys.append((("client", client), self.free_per_client))
        return keys

    def _wait(self, count: _Count, free: int, now: float) -> tuple[float, str]:
        """Seconds before a new check of this key may start (0: now), and why."""
        if count.failures >= free:
            locked_until = count.last_failure + min(self.max_delay_s, self.delay_s * 2 ** (count.failures - free))
            if now < locked_until:
                return locked_until - now, "locked out"
            return (1.0 if count.running else 0.0), "checks running"  # after a lockout, one check at a time
        # Checks still running use up the free attempts until their outcome is known.
        return (1.0 if count.failures + count.running >= free else 0.0), "checks running"

    @staticmethod
    def _refusal(count: _Count, kind: str, wait: float, reason: str, now: float) -> Refusal:
        first = count.refusal_logged_until <= now
        if first:
            count.refusal_logged_until = now + wait
        return Refusal(kind=kind, reason=reason, retry_after_s=max(1, round(wait)), first=first)

    def begin(self, name: str, client: str | None) -> Refusal | None:
        """Reserve a check of ``name`` from ``client``; a Refusal when it must wait (then call nothing else)."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            for key, free in self._keys(name, client):
                count = self._counts.setdefault(key, _Count())
                wait, reason = self._wait(count, free, now)
                if wait > 0:
                    return self._refusal(count, key[0], wait, reason, now)
            for key, _ in self._keys(name, client):
                self._counts[key].running += 1
        return None

    def end(self, name: str, client: str | None, *, succeeded: bool) -> None:
        """The outcome of a check ``begin`` let through."""
        now = self._clock()
        with self._lock:
            for key, _ in self._keys(name, client):
                count = self._counts.setdefault(key, _Count())
                count.running = max(0, count.running - 1)
                if succeeded:
                    if key[0] == "user name":  # a client's count only fades: an attacker's own account
                        count.failures, count.refusal_logged_until = 0, 0.0  # must not reset it
                else:
                    count.failures += 1
                    count.last_failure = now

    def cancel(self, name: str, client: str | None) -> None:
        """A check ``begin`` let through that did not run (no free hash slot): no outcome to count."""
        with self._lock:
            for key, _ in self._keys(name, client):
                if key in self._counts:
                    self._counts[key].running = max(0, self._counts[key].running - 1)

    def refuse_client(self, client: str | None) -> Refusal | None:
        """A Refusal when ``client`` is locked out (asked before looking at what it sent)."""
        if not client:
            return None
        now = self._clock()
        with self._lock:
            count = self._counts.get(("client", client))
            if count is None:
                return None
            wait, reason = self._wait(count, self.free_per_client, now)
            if wait <= 0 or reason != "locked out":
                return None
            return self._refusal(count, "client", wait, reason, now)

    def fail_client(self, client: str | None) -> None:
        """A failure that never reached a check (an invalid user name or password): it counts
        against the client only, so the garbage is never kept as a key."""
        if client:
            now = self._clock()
            with self._lock:
                count = self._counts.setdefault(("client", client), _Count())
                count.failures += 1
                count.last_failure = now

    def _forget(self, now: float) -> None:
        stale = [key for key, c in self._counts.items()
                 if not c.running and now - c.last_failure > max(self.forget_after_s, self.max_delay_s)]
        for key in stale:
            del self._counts[key]


class HashSlots:
    """A bounded number of concurrent password checks; ``peak`` is the most that ever ran at once."""

    def __init__(self, slots: int = 2, wait_s: float = 20.0) -> None:
        self.slots, self.wait_s = slots, wait_s
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields True while holding a slot, False when none came free within ``wait_s`` (check nothing)."""
        if not self._semaphore.acquire(timeout=self.wait_s):
            yield False
            return
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield True
        finally:
            with self._lock:
                self.running -= 1
            self._semaphore.release()
