"""Where the playground's computations run: bounded lanes of worker processes, off the event
loop, each request with a time budget, cancelled when its client leaves or supersedes it.

A request's estimated work (:func:`.compute.estimate`) picks its lane: ``light`` (the
dragging and the settings a class changes all the time) or ``heavy`` (long races, maps,
exact traces, exports), each with its own worker processes, so no ordinary request waits
behind a heavy one; heavy workers run at a lower CPU priority (``nice``). A lane admits at
most ``workers + queue`` requests; past that the answer is :class:`Busy` (the app's 503 with
``Retry-After``). A call that outlives its time budget, or whose client disconnects or sends a
newer request of the same kind, has its worker process killed (a computation in a thread could
not be stopped) and replaced. That newer request (the same ``key``) takes over the older one's
place in its lane — its worker, or its position in the queue — rather than being admitted
anew: waiting at most the time budget for the older one to stop, it is never refused because
its own older request still holds the place.

Workers are started from a ``forkserver`` that has imported :mod:`.compute` (and the
plotting the race colours need) once, so a replacement is a fork, not a fresh interpreter.
Errors travel back: a user mistake (:class:`~descentlab.errors.DescentlabError`) is raised
again as itself; anything else is a bug and becomes :class:`WorkerError` with the worker's
traceback.

>>> import asyncio
>>> async def demo():
...     async with Pool(light=1, heavy=1) as pool:
...         return await pool.run("light", "limits")
>>> asyncio.run(demo())["racers"]
8
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import traceback
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import DescentlabError

#: Lane sizes and budgets of ``descentlab serve`` (docs/playground.md, "A classroom").
LIGHT_WORKERS = 3
HEAVY_WORKERS = 1
LIGHT_QUEUE = 64
HEAVY_QUEUE = 2
TIME_BUDGET = 30.0  # seconds one request may compute
HEAVY_NICE = 10
#: Imported once by the forkserver, so that a worker's first request does not import them.
PRELOAD = ["descentlab.playground.compute", "descentlab.lab.spec", "descentlab.viz.style",
           "descentlab.commands.race"]


class Busy(Exception):
    """The lane is full: answer 503 and ask to retry after ``retry_after`` seconds."""

    def __init__(self, lane: str, retry_after: int) -> None:
        super().__init__(f"the playground is busy ({lane} requests); retry in {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """The client disconnected or sent a newer request of the same kind."""


class OverBudget(Exception):
    """The computation ran past its time budget; its worker was stopped."""


class WorkerError(RuntimeError):
    """A bug inside a worker (not a user mistake): the worker's traceback."""


def _serve(conn: Any, nice: int, plugin_files: tuple[str, ...] = ()) -> None:  # pragma: no cover
    """A worker's loop (in its own process): the optimizers of installed packages and of the
    server's ``--plugin`` files are registered here too, as in the server."""
    from .. import plugins
    from . import compute

    plugins.load_entry_points()
    for path in plugin_files:
        plugins.load(path)
    if nice:
        os.nice(nice)
    while True:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", getattr(compute, name)(*args))
        except DescentlabError as e:
            reply = ("user", e)
        except Exception:  # a bug: its traceback goes back to the server
            reply = ("bug", traceback.format_exc())
        conn.send(reply)


class _Worker:
    def __init__(self, ctx: Any, nice: int) -> None:
        from .. import plugins

        files = tuple(str(p.path) for p in plugins.active())
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, nice, files), daemon=True,
                                   name="descentlab-playground-worker")
        self.process.start()
        child.close()

    def call(self, name: str, args: tuple) -> tuple[str, Any]:
        self.conn.send((name, args))
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()


@dataclass
class _Lane:
    name: str
    workers: int
    queue: int
    nice: int
    retry_after: int
    idle: list[_Worker] = field(default_factory=list)
    admitted: int = 0
    running: int = 0
    free: asyncio.Semaphore | None = None


@dataclass
class _Place:
    """An admitted request's place in a lane: its wait for a worker, then the worker; handed
    on to a newer request with the same key. ``turn``: held by the request using it."""
    key: Hashable | None
    lane: _Lane
    stop: asyncio.Event  # the newest request's
    waiting: asyncio.Future
    worker: _Worker | None = None
    users: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class Pool:
    """Lanes ``light`` and ``heavy`` of worker processes (see the module docstring); use as
    ``async with Pool() as pool`` or call :meth:`close`."""

    def __init__(self, light: int = LIGHT_WORKERS, heavy: int = HEAVY_WORKERS,
                 light_queue: int = LIGHT_QUEUE, heavy_queue: int = HEAVY_QUEUE,
                 time_budget: float = TIME_BUDGET, heavy_nice: int = HEAVY_NICE) -> None:
        if min(light, heavy) < 1 or min(light_queue, heavy_queue) < 0 or time_budget <= 0:
            raise ValueError("Pool: needs >= 1 worker per lane, queues >= 0, a time budget > 0")
        self.lanes = {"light": _Lane("light", light, light_queue, 0, 1),
                      "heavy": _Lane("heavy", heavy, heavy_queue, heavy_nice, 5)}
        self.time_budget = time_budget
        self._threads = ThreadPoolExecutor(light + heavy + 2, "playground-pool")
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        self._ctx = ctx
        self._started = False
        self._closed = False
        self._places: dict[Hashable, _Place] = {}

    async def __aenter__(self) -> Pool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start every worker (also done by the first :meth:`run`)."""
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        for lane in self.lanes.values():
            lane.free = asyncio.Semaphore(lane.workers)
            lane.idle = list(await asyncio.gather(*[
                loop.run_in_executor(self._threads, _Worker, self._ctx, lane.nice)
                for _ in range(lane.workers)]))

    async def close(self) -> None:
        """Stop every worker."""
        self._closed = True
        for lane in self.lanes.values():
            for w in lane.idle:
                w.stop()
            lane.idle = []
        self._threads.shutdown(wait=False, cancel_futures=True)

    def load(self) -> dict[str, dict[str, int]]:
        """Per lane: workers, admitted (running + waiting), running (computing in a worker),
        capacity (workers + queue)."""
        return {n: {"workers": lane.workers, "admitted": lane.admitted, "running": lane.running,
                    "capacity": lane.workers + lane.queue} for n, lane in self.lanes.items()}

    async def run(self, lane_name: str, function: str, *args: Any,
                  cancelled: Callable[[], Awaitable[bool]] | None = None,
                  stop: asyncio.Event | None = None, key: Hashable | None = None) -> Any:
        """``compute.<function>(*args)`` in a worker of lane ``lane_name``. ``cancelled``:
        polled every 0.1 s (the client's disconnect); ``stop``: set to cancel. ``key`` (the
        app: client and endpoint): a newer run with the same key stops this one (``stop`` is
        set) and, in the same lane, takes over its place: it is not counted again against
        the lane's capacity, waits (at most the time budget, then Busy) for this one to leave
        and gets its worker, or its position in the queue. Raises Busy, Cancelled, OverBudget,
        WorkerError or the user's error."""
        await self.start()
        lane = self.lanes[lane_name]
        stop = asyncio.Event() if stop is None else stop
        place = self._places.get(key) if key is not None else None
        if place is not None:
            place.stop.set()  # the older request of this key stops
            if place.lane is not lane:  # it gives its own place back when it leaves
                place = None
        if place is None:
            if lane.admitted >= lane.workers + lane.queue:
                raise Busy(lane.name, lane.retry_after)
            lane.admitted += 1
            place = _Place(key, lane, stop, asyncio.ensure_future(lane.free.acquire()))
            if key is not None:
                self._places[key] = place
        place.stop = stop
        place.users += 1
        try:
            try:
                await asyncio.wait_for(place.turn.acquire(), self.time_budget)
            except TimeoutError:
                raise Busy(lane.name, lane.retry_after) from None
            try:
                status, value = await self._compute(place, function, args, cancelled, stop)
            finally:
                place.turn.release()
        finally:
            place.users -= 1
            if place.users == 0:
                self._release(place)
        if status == "ok":
            return value
        if status == "user":
            raise value
        raise WorkerError(value)

    async def _compute(self, place: _Place, function: str, args: tuple,
                       cancelled: Callable[[], Awaitable[bool]] | None,
                       stop: asyncio.Event) -> tuple[str, Any]:
        """The run's turn in its place: a worker (the place's, or the next free one), then
        the call, stopped past the time budget or when cancelled."""
        lane = place.lane
        if stop.is_set():
            raise Cancelled("superseded while waiting")
        if place.worker is None:
            if not await self._until(place.waiting, None, cancelled, stop):
                raise Cancelled("cancelled while waiting")
            place.worker = lane.idle.pop()
        loop = asyncio.get_running_loop()
        lane.running += 1
        try:
            job = loop.run_in_executor(self._threads, place.worker.call, function, args)
            finished = await self._until(job, self.time_budget, cancelled, stop)
        finally:
            lane.running -= 1
        if not finished:  # stop the computation: kill its process, start another
            job.add_done_callback(lambda f: f.exception())  # (EOFError, unread)
            await self._replace(place)
            if finished is None:
                raise OverBudget(f"the computation ran past its time budget of "
                                 f"{self.time_budget:g} s and was stopped")
            raise Cancelled("cancelled while computing")
        try:
            return job.result()
        except (EOFError, OSError) as e:  # the worker died (killed, out of memory)
            await self._replace(place)
            raise WorkerError(f"a worker process died ({type(e).__name__})") from None

    async def _replace(self, place: _Place) -> None:
        """Kill the place's worker and start another (off the event loop: a kill's join can
        take a while on a busy machine)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._threads, place.worker.stop)
        place.worker = await loop.run_in_executor(self._threads, _Worker, self._ctx,
                                                  place.lane.nice)

    def _release(self, place: _Place) -> None:
        """The last request of a place has left: its worker (or its wait for one) and its
        admission go back to the lane."""
        lane = place.lane
        if place.worker is not None:
            if self._closed:
                place.worker.stop()
            else:
                lane.idle.append(place.worker)
            lane.free.release()
        else:
            place.waiting.cancel()
            if place.waiting.done() and not place.waiting.cancelled():
                lane.free.release()
        lane.admitted -= 1
        if place.key is not None and self._places.get(place.key) is place:
            del self._places[place.key]

    @staticmethod
    async def _until(task: Awaitable, timeout: float | None,
                     cancelled: Callable[[], Awaitable[bool]] | None,
                     stop: asyncio.Event | None) -> bool | None:
        """Wait for ``task``: True when done, False when cancelled, None past ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        task = asyncio.ensure_future(task)
        while True:
            wait = 0.1 if deadline is None else min(0.1, max(0.0, deadline - loop.time()))
            done, _ = await asyncio.wait({task}, timeout=wait)
            if done:
                return True
            if (stop is not None and stop.is_set()) or (cancelled is not None
                                                         and await cancelled()):
                return False
            if deadline is not None and loop.time() >= deadline:
                return None


__all__ = ["Pool", "Busy", "Cancelled", "OverBudget", "WorkerError", "LIGHT_WORKERS",
           "HEAVY_WORKERS", "LIGHT_QUEUE", "HEAVY_QUEUE", "TIME_BUDGET", "HEAVY_NICE"]
