"""The playground's web layer: FastAPI request models, routes and the static page.

FastAPI (Starlette + pydantic) because every request body is a validated model with bounds,
and the OpenAPI schema it publishes at ``/openapi.json`` is what the tests fuzz. The work is
in :mod:`.compute`; this module only translates. Input mistakes answer 400 with
``{"error": message, "field": name}``; malformed bodies 422 with the same two keys (the field
as a dotted path, e.g. ``racers.0.hyper.lr``) and pydantic's report without the input in
``detail``. JSON is read strictly: NaN, ±Infinity and numbers with more than 100 digits are
refused at their field (FastAPI's own 422 handler copied a NaN into its answer, a 500).

With a :class:`~.pool.Pool` (``descentlab serve``), every computation runs in its worker
processes — light or heavy lane by :func:`.compute.estimate`, made before any of it runs —
with a CPU-time budget (a 503 names it, or the wall-clock backstop, with the seconds used),
cancelled when the client disconnects or sends a newer request to the same endpoint (same
``X-Playground-Client`` header, or the ``descentlab_client`` cookie the page gets); a full
lane answers 503 with ``Retry-After``. ``/``, ``/api/limits`` and the other metadata are
answered by the server itself, at once. With a ``token``, :class:`~.guard.Guard` asks every
request for it; it also bounds the body (``LIMITS["body_bytes"]``, 413).

>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app("out/playground"))
>>> client.get("/api/limits").json()["racers"]
8
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, optim
from ..errors import DescentlabError, MissingKeyError
from . import compute
from .guard import TOKEN_PATTERN, Guard
from .pool import Busy, Cancelled, OverBudget, Pool

#: The endpoints whose body has one ``racer`` (not ``racers``).
ONE_RACER = ("/api/trace", "/api/map", "/api/starts")
#: Requests estimated above this many optimizer updates go to the heavy lane.
LIGHT_WORK = 2_500
#: The longest JSON number read as a number (longer ones are refused at their field).
MAX_NUMBER_DIGITS = 100

STATIC = Path(__file__).with_name("static")
LIMITS = compute.LIMITS

Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-LIMITS["coordinate"],
                                    le=LIMITS["coordinate"])]
Name = Annotated[str, StringConstraints(max_length=40, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Steps = Annotated[int, Field(ge=1, le=LIMITS["steps"])]
OptionValue = (bool | int | Annotated[float, Field(allow_inf_nan=False)] | None
               | Annotated[str, StringConstraints(max_length=40)])


#: What a JSON number Python would not take as a finite number (NaN, ±Infinity, 1e999, or
#: thousands of digits) becomes: a NaN, which every number field refuses (and no string,
#: boolean or object field takes), so validation names its field.
_UNREADABLE = float("nan")


def _read_int(text: str) -> int | float:
    return int(text) if len(text) <= MAX_NUMBER_DIGITS else _UNREADABLE


def _read_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        return _UNREADABLE
    value = float(text)
    return value if math.isfinite(value) else _UNREADABLE


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise json.JSONDecodeError(f"the key {twice[:40]!r} appears twice", "", 0)
    return out


def read_json(body: bytes) -> Any:
    """JSON as the playground reads it: NaN, Infinity and too-long numbers kept as markers
    that no request field accepts, a key given twice refused; anything unreadable is a
    ``json.JSONDecodeError``."""
    try:
        return json.loads(body, parse_constant=lambda _: _UNREADABLE, parse_int=_read_int,
                          parse_float=_read_float, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError as e:
        raise json.JSONDecodeError("not UTF-8 text", "", e.start) from None
    except (ValueError, RecursionError) as e:
        raise json.JSONDecodeError(f"unreadable ({type(e).__name__})", "", 0) from None


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class _StrictRoute(APIRoute):
    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def route(request: Request) -> Any:
            return await handler(_StrictRequest(request.scope, request.receive))

        return route


class _JSON(JSONResponse):
    """JSON answers in ASCII (a lone surrogate in an echoed string cannot break them)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


def _where(loc: tuple, body: Any) -> list:
    """The part of a validation error's location that is in the body (plus a missing key),
    without pydantic's union-member tags."""
    path, node = [], body
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(node, dict) and isinstance(part, str):
            path.append(part)
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        else:
            break
    return path


def _validation_answer(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    body = getattr(exc, "body", None)
    detail, first = [], None
    for err in errors:
        if err.get("type") == "json_invalid":
            pos = err.get("loc", ("body", 0))[-1]
            why = (err.get("ctx") or {}).get("error", "not JSON")
            field, message = "body", f"body: not valid JSON at character {pos} ({why})"
        else:
            path = _where(tuple(err.get("loc", ())), body)
            field = ".".join(str(p) for p in path) or "body"
            value = err.get("input")
            if isinstance(value, float) and not math.isfinite(value):
                message = (f"{field}: not a finite number of at most {MAX_NUMBER_DIGITS} "
                           "digits (NaN, Infinity, 1e999 and longer numbers are refused)")
            else:
                message = f"{field}: {err.get('msg', 'invalid')}"
        detail.append({"loc": [str(p) for p in err.get("loc", ())], "field": field,
                       "msg": message, "type": str(err.get("type", ""))})
        first = first or (message, field)
    message, field = first or ("body: invalid request", "body")
    return _JSON({"error": message, "field": field, "detail": detail}, status_code=422)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_BOWL = {"problem": "bowl"}
#: One small valid body per endpoint (each answers in milliseconds): the example the schema
#: at ``/openapi.json`` shows for it, and where the tests and the attack census
#: (benchmarks/attack_census_services.py) start from.
EXAMPLES: dict[str, dict[str, Any]] = {
    "/api/race": {"surface": _BOWL, "racers": [{"name": "adam", "hyper": {"lr": 0.3},
                                                "options": {"amsgrad": False}}],
                  "start": [-7.0, 2.0], "steps": 5,
                  "noise": {"sigma": 0.0, "spread": 0.0, "seed": 0}},
    "/api/field": {"surface": _BOWL, "racers": [{"name": "sgd", "hyper": {"lr": 0.1}}],
                   "steps": 5},
    "/api/trace": {"surface": {"formula": "x**2 + y**2", "window": [[-3.0, 3.0], [-2.0, 2.0]]},
                   "racer": {"name": "momentum", "hyper": {"lr": 0.1}}, "start": [1.0, 1.0],
                   "steps": 3, "exact": False},
    "/api/map": {"surface": _BOWL, "racer": {"name": "adam"}, "steps": 5,
                 "lr": {"lo": 0.01, "hi": 1.0, "n": 3, "log": True}, "axis": "beta2",
                 "axis_range": {"lo": 0.5, "hi": 0.9, "n": 2}},
    "/api/starts": {"surface": _BOWL, "racer": {"name": "sgd", "hyper": {"lr": 0.1}},
                    "steps": 5, "n": 3},
    "/api/surface": {"surface": _BOWL, "resolution": 10},
    "/api/parse": {"formula": "x*y"},
    "/api/export": {"surface": _BOWL, "racers": [{"name": "sgd"}], "steps": 3,
                    "animate": False},
}


def _example(path: str) -> ConfigDict:
    """A request model's config: strict, with ``EXAMPLES[path]`` in its schema."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLES[path]]})


class SurfaceIn(Strict):
    """A catalogue ``problem`` or your own ``formula`` in x (and y) with its ``window``."""

    problem: Name | None = None
    formula: Annotated[str, StringConstraints(max_length=LIMITS["formula_length"])] | None = None
    window: Annotated[list[tuple[Coordinate, Coordinate]], Field(min_length=1,
                                                                 max_length=2)] | None = None

    def surface(self) -> compute.Surface:
        window = None if self.window is None else tuple((lo, hi) for lo, hi in self.window)
        return compute.Surface(self.problem, self.formula, window)


class RacerIn(Strict):
    name: Name
    hyper: Annotated[dict[Name, Annotated[float, Field(allow_inf_nan=False)]],
                     Field(max_length=32)] = {}
    options: Annotated[dict[Name, OptionValue], Field(max_length=32)] = {}

    def racer(self) -> compute.Racer:
        return compute.Racer(self.name, dict(self.hyper), dict(self.options))


class NoiseIn(Strict):
    """Seeded gradient noise σ and start spread, where the lab has them (GET /api/features)."""

    sigma: Annotated[float, Field(allow_inf_nan=False, ge=0, le=LIMITS["coordinate"])] = 0.0
    spread: Annotated[float, Field(allow_inf_nan=False, ge=0, le=LIMITS["coordinate"])] = 0.0
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0

    def noise(self) -> compute.Noise:
        return compute.Noise(self.sigma, self.spread, self.seed)


def _noise(n: NoiseIn | None) -> compute.Noise:
    return compute.Noise() if n is None else n.noise()


Racers = Annotated[list[RacerIn], Field(min_length=1, max_length=LIMITS["racers"])]
Start = Annotated[list[Coordinate], Field(min_length=1, max_length=2)] | None


class SurfaceRequest(Strict):
    model_config = _example("/api/surface")

    surface: SurfaceIn
    resolution: Annotated[int, Field(ge=2, le=200)] = 120


class FormulaRequest(Strict):
    model_config = _example("/api/parse")

    formula: Annotated[str, StringConstraints(max_length=LIMITS["formula_length"])]


class RaceRequest(Strict):
    model_config = _example("/api/race")

    surface: SurfaceIn
    racers: Racers
    start: Start = None
    steps: Steps = 30
    noise: NoiseIn | None = None


class FieldRequest(Strict):
    model_config = _example("/api/field")

    surface: SurfaceIn
    racers: Racers
    steps: Steps = 30
    noise: NoiseIn | None = None


class ExportRequest(RaceRequest):
    model_config = _example("/api/export")

    animate: bool = True


class TraceRequest(Strict):
    model_config = _example("/api/trace")

    surface: SurfaceIn
    racer: RacerIn
    start: Start = None
    steps: Annotated[int, Field(ge=1, le=LIMITS["trace_steps"])] = 30
    exact: bool = False


class AxisIn(Strict):
    lo: Annotated[float, Field(allow_inf_nan=False)]
    hi: Annotated[float, Field(allow_inf_nan=False)]
    n: Annotated[int, Field(ge=1, le=LIMITS["map_cells"])] = 24
    log: bool = False

    def as_tuple(self) -> tuple[float, float, int, bool]:
        return self.lo, self.hi, self.n, self.log


class MapRequest(Strict):
    model_config = _example("/api/map")

    surface: SurfaceIn
    racer: RacerIn
    start: Start = None
    steps: Steps = 30
    lr: AxisIn
    axis: Name | None = None
    axis_range: AxisIn | None = None


class StartMapRequest(Strict):
    model_config = _example("/api/starts")

    surface: SurfaceIn
    racer: RacerIn
    steps: Steps = 30
    n: Annotated[int, Field(ge=1, le=64)] = 24


_FIELD = re.compile(r"^(surface(\.window)?|formula|start|steps|racers?|lr|axis\w*|resolution|"
                    r"number of racers)")


def _field_of(message: str) -> str | None:
    m = _FIELD.match(message)
    if m:
        return m.group(1).split(".")[0] if m.group(1) != "number of racers" else "racers"
    return "racers" if message.startswith(("racer ", "optimizer spec", "unknown optimizer")) \
        else None


def _client(request: Request) -> str | None:
    """Who sent a request, for superseding: the page's cookie or a client's header."""
    return request.headers.get("x-playground-client") or \
        request.cookies.get("descentlab_client")


def create_app(export_dir: str | os.PathLike = "out/playground", *, token: str | None = None,
               pool: Pool | None = None) -> FastAPI:
    """The playground app; exports go to new folders under ``export_dir`` (nothing else is
    ever written, and only files under it are served besides the page). ``token``: required
    of every request (see :mod:`.guard`); ``pool``: the worker processes computations run in
    (without one, in the server's threads, unbounded in time — for tests and the library)."""
    export_root = Path(export_dir)
    if token is not None and not TOKEN_PATTERN.match(token):
        raise ValueError("token: 8 to 128 characters of A-Z a-z 0-9 _ -")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if pool is not None:
            await pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await pool.close()

    app = FastAPI(title="descentlab playground", version=__version__, lifespan=lifespan,
                  description="The library's optimizers on loss surfaces, over HTTP.",
                  default_response_class=_JSON)
    app.router.route_class = _StrictRoute
    app.add_middleware(Guard, token=token, max_body=compute.LIMITS["body_bytes"])

    @app.exception_handler(DescentlabError)
    async def _user_error(request: Request, exc: DescentlabError) -> JSONResponse:
        message = str(exc)
        status = 404 if isinstance(exc, MissingKeyError) else 400
        field = getattr(exc, "field", None) or _field_of(message)
        if field == "racers" and request.url.path in ONE_RACER:
            field = "racer"
        if field and not message.startswith(field):
            message = f"{field}: {message}"
        return _JSON({"error": message, "field": field}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _JSON({"error": f"{exc.detail}: {request.url.path}", "field": None},
                     status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_answer(exc)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return _JSON({"error": str(exc), "field": None}, status_code=503,
                     headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(OverBudget)
    async def _over(request: Request, exc: OverBudget) -> JSONResponse:
        if exc.limit == "cpu":  # the request's own size
            answer = {"error": f"steps: {exc}; ask for fewer steps, racers or cells",
                      "field": "steps"}
        else:  # the machine's load
            answer = {"error": f"{exc}; try again in a moment", "field": None}
        return _JSON(answer, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Cancelled)
    async def _cancelled(request: Request, exc: Cancelled) -> JSONResponse:
        return _JSON({"error": f"superseded by a newer request to {request.url.path} ({exc})",
                      "field": None}, status_code=409)

    async def run(request: Request, work: compute.Estimate | None, function: str,
                  *args: Any) -> Any:
        """``compute.<function>(*args)``: in the pool's lane for ``work`` (checked against
        the work limit first; None: the heavy lane), else in a thread."""
        if work is not None:
            work.check("this request")
        if pool is None:
            return await run_in_threadpool(getattr(compute, function), *args)
        lane = "light" if work is not None and work.work <= LIGHT_WORK else "heavy"
        client = _client(request)
        key = None if client is None else (client, request.url.path)
        return await pool.run(lane, function, *args, cancelled=request.is_disconnected,
                              key=key)

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> FileResponse:
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        if not request.cookies.get("descentlab_client"):
            response.set_cookie("descentlab_client", secrets.token_urlsafe(9), httponly=True,
                                samesite="strict")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/limits")
    async def get_limits() -> dict[str, int]:
        return compute.limits()

    @app.get("/api/features")
    async def get_features() -> dict[str, bool]:
        return compute.features()

    @app.get("/api/optimizers")
    async def get_optimizers() -> dict[str, Any]:
        """Every registered optimizer, described (controls are built from this)."""
        return _described(tuple(optim.available()))

    @app.get("/api/problems")
    async def get_problems() -> list[dict[str, Any]]:
        return _catalogue()

    @app.post("/api/parse")
    def post_parse(req: FormulaRequest) -> dict[str, Any]:
        """Check a formula: ``{"ok": false, "error": ...}`` when it does not parse."""
        return compute.check_formula(req.formula)

    @app.post("/api/surface")
    async def post_surface(req: SurfaceRequest, request: Request) -> dict[str, Any]:
        cells = req.resolution ** 2 / compute.ROWS_PER_UPDATE
        return await run(request, compute.Estimate(cells, "resolution"), "surface_grid",
                         req.surface.surface(), req.resolution)

    @app.post("/api/race")
    async def post_race(req: RaceRequest, request: Request) -> dict[str, Any]:
        racers = [r.racer() for r in req.racers]
        surface = req.surface.surface()
        return await run(request, compute.estimate("race", surface, racers, req.steps),
                         "race_paths", surface, racers, req.start, req.steps,
                         _noise(req.noise))

    @app.post("/api/field")
    async def post_field(req: FieldRequest, request: Request) -> dict[str, Any]:
        racers = [r.racer() for r in req.racers]
        surface = req.surface.surface()
        return await run(request, compute.estimate("field", surface, racers, req.steps),
                         "drag_field", surface, racers, req.steps, _noise(req.noise))

    @app.post("/api/trace")
    async def post_trace(req: TraceRequest, request: Request) -> dict[str, Any]:
        surface, racer = req.surface.surface(), req.racer.racer()
        return await run(request, compute.estimate("trace", surface, [racer], req.steps,
                                                   exact=req.exact),
                         "trace_steps", surface, racer, req.start, req.steps, req.exact)

    @app.post("/api/map")
    async def post_map(req: MapRequest, request: Request) -> dict[str, Any]:
        surface, racer = req.surface.surface(), req.racer.racer()
        cells = req.lr.n * (req.axis_range.n if req.axis and req.axis_range else 1)
        return await run(request, compute.estimate("map", surface, [racer], req.steps, cells),
                         "stability_map", surface, racer, req.start, req.steps,
                         req.lr.as_tuple(), req.axis,
                         None if req.axis_range is None else req.axis_range.as_tuple())

    @app.post("/api/starts")
    async def post_starts(req: StartMapRequest, request: Request) -> dict[str, Any]:
        surface, racer = req.surface.surface(), req.racer.racer()
        return await run(request, compute.estimate("starts", surface, [racer], req.steps,
                                                   req.n),
                         "start_map", surface, racer, req.steps, req.n)

    @app.post("/api/export")
    async def post_export(req: ExportRequest, request: Request) -> dict[str, Any]:
        racers = [r.racer() for r in req.racers]
        surface = req.surface.surface()
        compute.estimate("export", surface, racers, req.steps).check("this export")
        return await run(request, None, "export", surface, racers, req.start, req.steps,
                         export_root, req.animate, _noise(req.noise))

    @app.get("/exports/{name}/{file}", include_in_schema=False)
    def get_export(name: str, file: str) -> FileResponse:
        return FileResponse(compute.export_file(export_root, name, file))

    return app


@functools.lru_cache(maxsize=4)
def _described(names: tuple[str, ...]) -> dict[str, Any]:
    return {"names": list(names), "describe": {n: optim.describe(n) for n in names}}


@functools.lru_cache(maxsize=1)
def _catalogue() -> list[dict[str, Any]]:
    return compute.catalogue()


__all__ = ["create_app"]
