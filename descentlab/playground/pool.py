"""Where the playground's computations run: bounded lanes of worker processes, off the event
loop, each request with a CPU-time budget, cancelled when its client leaves or supersedes it.

A request's estimated work (:func:`.compute.estimate`) picks its lane: ``light`` (the
dragging and the settings a class changes all the time) or ``heavy`` (long races, maps,
exact traces, exports), each with its own worker processes, so no ordinary request waits
behind a heavy one; heavy workers run at a lower CPU priority (``nice``). A lane admits at
most ``workers + queue`` requests; past that the answer is :class:`Busy` (the app's 503 with
``Retry-After``). A call that uses up its time budget, or whose client disconnects or sends a
newer request of the same kind, has its worker process killed (a computation in a thread could
not be stopped) and replaced.

The budget is counted in CPU time: the seconds its worker process spends computing (user +
system, every thread: ``time.process_time`` in the worker), not the seconds the request
waits for a core on a busy machine, where a heavy worker at ``HEAVY_NICE`` can take many
times as long in wall time as a light one for the same work. A wall-clock backstop of
``WALL_FACTOR`` × the budget still ends a request that is stuck or starved of CPU.
:class:`OverBudget` says which of the two ran out, with the seconds used of each.

A newer request (the same ``key``) does not wait for its older one's worker when its lane
has an idle worker: it is admitted on that one at once (the older one is still stopped and
gives its place back when it leaves). Otherwise it takes over the older one's place in its
lane — its worker, or its position in the queue — rather than being admitted anew: waiting
at most ``time_budget`` seconds (wall) for the older one to stop, it is never refused
because its own older request still holds the place.

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
import threading
import time
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
TIME_BUDGET = 30.0  # CPU seconds one request may compute in its worker process
WALL_FACTOR = 10  # the wall-clock backstop: WALL_FACTOR × the budget, in seconds
HEAVY_NICE = 10
#: How often (seconds) a computing worker publishes the CPU time it has used.
CPU_TICK = 0.1
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
    """The computation was stopped (its worker killed): it used up its CPU budget
    (``limit`` "cpu"), or ran past the wall-clock backstop (``limit`` "wall"); ``cpu`` and
    ``wall``: the seconds of each it had used."""

    def __init__(self, limit: str, budget: float, backstop: float, cpu: float,
                 wall: float) -> None:
        used = f"{cpu:.1f} s of CPU in {wall:.1f} s"
        if limit == "cpu":
            message = (f"the computation used up its CPU budget of {budget:g} s ({used}) "
                       "and was stopped")
        else:
            message = (f"the computation ran past the wall-clock backstop of {backstop:g} s "
                       f"({used}; the CPU budget is {budget:g} s): the server is too busy, "
                       "and it was stopped")
        super().__init__(message)
        self.limit, self.budget, self.backstop, self.cpu, self.wall = (
            limit, budget, backstop, cpu, wall)


class WorkerError(RuntimeError):
    """A bug inside a worker (not a user mistake): the worker's traceback."""


def _publish_cpu(cpu: Any) -> None:  # pragma: no cover (in the worker)
    while True:
        cpu.value = time.process_time()
        time.sleep(CPU_TICK)


def _serve(conn: Any, nice: int, plugin_files: tuple[str, ...] = (),
           cpu: Any = None) -> None:  # pragma: no cover
    """A worker's loop (in its own process): the optimizers of installed packages and of the
    server's ``--plugin`` files are registered here too, as in the server. ``cpu``: shared
    memory where the process's CPU time is published, every ``CPU_TICK`` s and before each
    answer."""
    from .. import plugins
    from . import compute

    plugins.load_entry_points()
    for path in plugin_files:
        plugins.load(path)
    if nice:
        os.nice(nice)
    if cpu is not None:  # (a fresh worker's first request may be charged the CPU of this
        # setup if it arrives before the first publication: a few milliseconds)
        threading.Thread(target=_publish_cpu, args=(cpu,), daemon=True,
                         name="descentlab-cpu-time").start()
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
        if cpu is not None:
            cpu.value = time.process_time()
        conn.send(reply)


class _Worker:
    def __init__(self, ctx: Any, nice: int) -> None:
        from .. import plugins

        files = tuple(str(p.path) for p in plugins.active())
        self.conn, child = ctx.Pipe()
        self.cpu = ctx.RawValue("d", 0.0)  # no lock: a killed worker cannot hold one
        self.process = ctx.Process(target=_serve, args=(child, nice, files, self.cpu),
                                   daemon=True, name="descentlab-playground-worker")
        self.process.start()
        child.close()

    def cpu_seconds(self) -> float:
        """The CPU time the worker process has used (as last published)."""
        return self.cpu.value

    def call(self, name: str, args: tuple) -> tuple[str, Any]:
        self.conn.send((name, args))
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class Clocks:
    """The two clocks a request's budget is read from (the pool's ``clocks``; tests give
    their own): ``wall()``, seconds (``time.monotonic``), and ``cpu(worker)``, the CPU
    seconds the worker process has used so far, as it publishes them (every ``CPU_TICK`` s
    while it computes and once done). The pool reads both when a computation starts and
    every 0.1 s until it ends; the differences are what it used.

    >>> clocks = Clocks()
    >>> 0 < clocks.wall() <= Clocks().wall()
    True
    """

    def wall(self) -> float:
        return time.monotonic()

    def cpu(self, worker: _Worker) -> float:
        return worker.cpu_seconds()


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
                 time_budget: float = TIME_BUDGET, heavy_nice: int = HEAVY_NICE,
                 wall_factor: float = WALL_FACTOR, clocks: Clocks | None = None) -> None:
        if min(light, heavy) < 1 or min(light_queue, heavy_queue) < 0 or time_budget <= 0 \
                or not wall_factor >= 1:
            raise ValueError("Pool: needs >= 1 worker per lane, queues >= 0, a time budget > 0 "
                             "and a wall factor >= 1")
        self.lanes = {"light": _Lane("light", light, light_queue, 0, 1),
                      "heavy": _Lane("heavy", heavy, heavy_queue, heavy_nice, 5)}
        self.time_budget = time_budget  # CPU seconds
        self.wall_factor = wall_factor
        self.clocks = Clocks() if clocks is None else clocks
        self._threads = ThreadPoolExecutor(light + heavy + 2, "playground-pool")
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        self._ctx = ctx
        self._started = False
        self._closed = False
        self._places: dict[Hashable, _Place] = {}

    @property
    def wall_backstop(self) -> float:
        """Seconds (wall clock) after which a computation is stopped whatever its CPU time."""
        return self.time_budget * self.wall_factor

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
        """``compute.<function>(*args)`` in a worker of lane ``lane_name``, stopped past
        ``time_budget`` CPU seconds or ``wall_backstop`` seconds. ``cancelled``: polled every
        0.1 s (the client's disconnect); ``stop``: set to cancel. ``key`` (the app: client
        and endpoint): a newer run with the same key stops this one (``stop`` is set); when
        its lane has an idle worker it runs there at once, else, in the same lane, it takes
        over this one's place: it is not counted again against the lane's capacity, waits
        (at most ``time_budget`` seconds, then Busy) for this one to leave and gets its
        worker, or its position in the queue. Raises Busy, Cancelled, OverBudget,
        WorkerError or the user's error."""
        await self.start()
        lane = self.lanes[lane_name]
        stop = asyncio.Event() if stop is None else stop
        place = self._places.get(key) if key is not None else None
        if place is not None:
            place.stop.set()  # the older request of this key stops
            idle = not lane.free.locked() and lane.admitted < lane.workers + lane.queue
            if place.lane is not lane or idle:
                place = None  # a place of its own; the older gives its place back as it leaves
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
        the call, stopped past the budget or when cancelled."""
        lane = place.lane
        if stop.is_set():
            raise Cancelled("superseded while waiting")
        if place.worker is None:
            if await self._until(place.waiting, cancelled, stop) is not True:
                raise Cancelled("cancelled while waiting")
            place.worker = lane.idle.pop()
        loop = asyncio.get_running_loop()
        over = self._budget(place.worker)
        lane.running += 1
        try:
            job = loop.run_in_executor(self._threads, place.worker.call, function, args)
            finished = await self._until(job, cancelled, stop, over)
        finally:
            lane.running -= 1
        if finished is not True:  # stop the computation: kill its process, start another
            job.add_done_callback(lambda f: f.exception())  # (EOFError, unread)
            await self._replace(place)
            if isinstance(finished, OverBudget):
                raise finished
            raise Cancelled("cancelled while computing")
        try:
            return job.result()
        except (EOFError, OSError) as e:  # the worker died (killed, out of memory)
            await self._replace(place)
            raise WorkerError(f"a worker process died ({type(e).__name__})") from None

    def _budget(self, worker: _Worker) -> Callable[[], OverBudget | None]:
        """From now on: what a computation in ``worker`` has overrun (its CPU budget first,
        then the wall-clock backstop), or None."""
        clocks = self.clocks
        cpu0, wall0 = clocks.cpu(worker), clocks.wall()

        def over() -> OverBudget | None:
            cpu, wall = clocks.cpu(worker) - cpu0, clocks.wall() - wall0
            limit = "cpu" if cpu > self.time_budget else \
                "wall" if wall > self.wall_backstop else None
            return None if limit is None else OverBudget(limit, self.time_budget,
                                                         self.wall_backstop, cpu, wall)

        return over

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
    async def _until(task: Awaitable, cancelled: Callable[[], Awaitable[bool]] | None,
                     stop: asyncio.Event | None,
                     over: Callable[[], OverBudget | None] | None = None
                     ) -> bool | OverBudget:
        """Wait for ``task``, looking every 0.1 s: True when done, False when cancelled, what
        ``over()`` returns once it is not None."""
        task = asyncio.ensure_future(task)
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.1)
            if done:
                return True
            if (stop is not None and stop.is_set()) or (cancelled is not None
                                                         and await cancelled()):
                return False
            overrun = None if over is None else over()
            if overrun is not None:
                return overrun


__all__ = ["Pool", "Clocks", "Busy", "Cancelled", "OverBudget", "WorkerError", "LIGHT_WORKERS",
           "HEAVY_WORKERS", "LIGHT_QUEUE", "HEAVY_QUEUE", "TIME_BUDGET", "WALL_FACTOR",
           "HEAVY_NICE", "CPU_TICK"]
