"""The playground's web layer: FastAPI request models, routes and the static page.

FastAPI (Starlette + pydantic) because every request body is a validated model with bounds,
and the OpenAPI schema it publishes at ``/openapi.json`` is what the tests fuzz. The work is
in :mod:`.compute`; this module only translates. Input mistakes answer 400 with
``{"error": message, "field": name}``; malformed bodies 422 (pydantic's report).

>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app("out/playground"))
>>> client.get("/api/limits").json()["racers"]
8
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .. import __version__, optim
from ..errors import DescentlabError, MissingKeyError
from . import compute

STATIC = Path(__file__).with_name("static")
LIMITS = compute.LIMITS

Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-LIMITS["coordinate"],
                                    le=LIMITS["coordinate"])]
Name = Annotated[str, StringConstraints(max_length=40, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Steps = Annotated[int, Field(ge=1, le=LIMITS["steps"])]
OptionValue = (bool | int | Annotated[float, Field(allow_inf_nan=False)] | None
               | Annotated[str, StringConstraints(max_length=40)])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    surface: SurfaceIn
    resolution: Annotated[int, Field(ge=2, le=200)] = 120


class FormulaRequest(Strict):
    formula: Annotated[str, StringConstraints(max_length=LIMITS["formula_length"])]


class RaceRequest(Strict):
    surface: SurfaceIn
    racers: Racers
    start: Start = None
    steps: Steps = 30
    noise: NoiseIn | None = None


class FieldRequest(Strict):
    surface: SurfaceIn
    racers: Racers
    steps: Steps = 30
    noise: NoiseIn | None = None


class ExportRequest(RaceRequest):
    animate: bool = True


class TraceRequest(Strict):
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
    surface: SurfaceIn
    racer: RacerIn
    start: Start = None
    steps: Steps = 30
    lr: AxisIn
    axis: Name | None = None
    axis_range: AxisIn | None = None


class StartMapRequest(Strict):
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


def create_app(export_dir: str | os.PathLike = "out/playground") -> FastAPI:
    """The playground app; exports go to new folders under ``export_dir`` (nothing else is
    ever written, and only files under it are served besides the page)."""
    export_root = Path(export_dir)
    app = FastAPI(title="descentlab playground", version=__version__,
                  description="The library's optimizers on loss surfaces, over HTTP.")

    @app.exception_handler(DescentlabError)
    async def _user_error(request: Request, exc: DescentlabError) -> JSONResponse:
        message = str(exc)
        status = 404 if isinstance(exc, MissingKeyError) else 400
        return JSONResponse({"error": message, "field": _field_of(message)}, status_code=status)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/limits")
    def get_limits() -> dict[str, int]:
        return compute.limits()

    @app.get("/api/features")
    def get_features() -> dict[str, bool]:
        return compute.features()

    @app.get("/api/optimizers")
    def get_optimizers() -> dict[str, Any]:
        """Every registered optimizer, described (controls are built from this)."""
        return {"names": optim.available(),
                "describe": {n: optim.describe(n) for n in optim.available()}}

    @app.get("/api/problems")
    def get_problems() -> list[dict[str, Any]]:
        return compute.catalogue()

    @app.post("/api/parse")
    def post_parse(req: FormulaRequest) -> dict[str, Any]:
        """Check a formula: ``{"ok": false, "error": ...}`` when it does not parse."""
        return compute.check_formula(req.formula)

    @app.post("/api/surface")
    def post_surface(req: SurfaceRequest) -> dict[str, Any]:
        return compute.surface_grid(req.surface.surface(), req.resolution)

    @app.post("/api/race")
    def post_race(req: RaceRequest) -> dict[str, Any]:
        return compute.race_paths(req.surface.surface(), [r.racer() for r in req.racers],
                                  req.start, req.steps, _noise(req.noise))

    @app.post("/api/field")
    def post_field(req: FieldRequest) -> dict[str, Any]:
        return compute.drag_field(req.surface.surface(), [r.racer() for r in req.racers],
                                  req.steps, _noise(req.noise))

    @app.post("/api/trace")
    def post_trace(req: TraceRequest) -> dict[str, Any]:
        return compute.trace_steps(req.surface.surface(), req.racer.racer(), req.start,
                                   req.steps, req.exact)

    @app.post("/api/map")
    def post_map(req: MapRequest) -> dict[str, Any]:
        return compute.stability_map(
            req.surface.surface(), req.racer.racer(), req.start, req.steps, req.lr.as_tuple(),
            req.axis, None if req.axis_range is None else req.axis_range.as_tuple())

    @app.post("/api/starts")
    def post_starts(req: StartMapRequest) -> dict[str, Any]:
        return compute.start_map(req.surface.surface(), req.racer.racer(), req.steps, req.n)

    @app.post("/api/export")
    def post_export(req: ExportRequest) -> dict[str, Any]:
        return compute.export(req.surface.surface(), [r.racer() for r in req.racers],
                              req.start, req.steps, export_root, req.animate,
                              _noise(req.noise))

    @app.get("/exports/{name}/{file}", include_in_schema=False)
    def get_export(name: str, file: str) -> FileResponse:
        return FileResponse(compute.export_file(export_root, name, file))

    return app


__all__ = ["create_app"]
