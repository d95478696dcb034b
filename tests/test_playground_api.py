"""The playground's HTTP API (in-process, FastAPI's TestClient): numbers, bounds, errors,
exports, and a fuzz of every endpoint from its own OpenAPI schema (no 5xx, ever)."""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import optim, problems
from descentlab.cli import main as cli
from descentlab.commands import serve
from descentlab.errors import InputError
from descentlab.playground import compute
from descentlab.playground.app import create_app


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def client(exports):
    # raise_server_exceptions: a bug inside a route fails the test instead of becoming a 500
    return TestClient(create_app(exports), raise_server_exceptions=True)


BOWL = {"problem": "bowl"}


def test_race_is_the_hand_computation(client):
    # SGD, lr = 0.5 on f = x²/20 + y² from (-7, 2): g = (x/10, 2y), two steps by hand.
    r = client.post("/api/race", json={"surface": BOWL, "start": [-7, 2], "steps": 2,
                                       "racers": [{"name": "sgd", "hyper": {"lr": 0.5}}]})
    assert r.status_code == 200
    x1, y1 = -7 - 0.5 * (-0.7), 2 - 0.5 * 4
    x2, y2 = x1 - 0.5 * x1 / 10, y1 - 0.5 * 2 * y1
    assert r.json()["racers"][0]["path"] == [[-7.0, 2.0], [x1, y1], [x2, y2]]
    assert r.json()["racers"][0]["colour"] == "#1f77b4"  # the figures' palette


def test_adam_internals_are_e4(client):
    # E4 of the product brief: f = x·y from (1, 2), lr 1, β1 = β2 = 1/2, exact.
    r = client.post("/api/trace", json={
        "surface": {"problem": "xy"}, "start": [1, 2], "steps": 2, "exact": True,
        "racer": {"name": "adam", "hyper": {"lr": 1, "beta1": 0.5, "beta2": 0.5}}})
    assert r.status_code == 200
    s1, s2 = r.json()["steps"]
    assert s1["exact"]["m̂"] == ["2", "1"] and s1["exact"]["v̂"] == ["4", "1"]
    assert s2["exact"]["new point"] == ["-2*sqrt(2)/3", "1 - sqrt(3)/3"]


def test_drag_field_rows_are_races_from_the_lattice(client):
    racers = [{"name": "momentum", "hyper": {"lr": 0.1}}, {"name": "adam", "hyper": {"lr": 0.3}}]
    f = client.post("/api/field", json={"surface": BOWL, "racers": racers, "steps": 40}).json()
    xs, ys = f["axes"]
    n = len(xs)
    i, j = 3, n - 5
    for k, racer in enumerate(racers):
        data = np.frombuffer(base64.b64decode(f["paths"][k]), "<f4").reshape(n * n, 41, 2)
        race = client.post("/api/race", json={"surface": BOWL, "racers": [racer], "steps": 40,
                                              "start": [xs[i], ys[j]]}).json()
        expect = np.array(race["racers"][0]["path"], dtype=np.float32)
        np.testing.assert_array_equal(data[j * n + i][: len(expect)], expect)


def test_one_d_surface_and_field(client):
    s = client.post("/api/surface", json={"surface": {"problem": "quartic"},
                                          "resolution": 50}).json()
    assert s["dim"] == 1 and len(s["values"]) == 50
    x = np.array(s["axes"][0])
    np.testing.assert_allclose(s["values"], (x - 9) * x * (x + 1) * (x + 6) / 200 + 4)
    f = client.post("/api/field", json={"surface": {"problem": "quartic"}, "steps": 99,
                                        "racers": [{"name": "adam", "hyper": {"lr": 1.3}}]})
    assert f.status_code == 200 and len(f.json()["axes"]) == 1


def test_bad_formula_is_an_answer_and_a_400(client):
    bad = "x**2 + 3*y**"
    assert client.post("/api/parse", json={"formula": bad}).json()["ok"] is False
    assert client.post("/api/parse", json={"formula": "sin(x)*y"}).json() == {"ok": True,
                                                                              "dim": 2}
    r = client.post("/api/surface", json={"surface": {"formula": bad}})
    assert r.status_code == 400 and r.json()["field"] == "formula"
    assert "syntax error" in r.json()["error"]
    # formulas are parsed, never executed
    r = client.post("/api/surface", json={"surface": {"formula": "__import__('os').getcwd()"}})
    assert r.status_code == 400


@pytest.mark.parametrize("body, status, words", [
    ({"steps": 1001}, 422, "less than or equal to 1000"),
    ({"racers": [{"name": "sgd"}] * 9}, 422, "at most 8"),
    ({"start": [50, 0]}, 400, "outside the bounds"),
    ({"start": [1]}, 400, "2-D"),
    ({"racers": [{"name": "adamm"}]}, 400, "unknown optimizer"),
    ({"racers": [{"name": "adam", "hyper": {"beta2": 1.5}}]}, 400, "beta2 must be in [0, 1)"),
    ({"racers": [{"name": "adam", "options": {"eps_mode": "sideways"}}]}, 400, "eps_mode"),
    ({"racers": [{"name": "adam", "options": {"bogus": True}}]}, 400, "bogus"),
    ({"racers": [{"name": "sgd", "hyper": {"lr": 1}, "options": {"lr": 2}}]}, 400, "both"),
    ({"surface": {"problem": "bowl", "formula": "x"}}, 400, "either"),
    ({"surface": {"problem": "bowl", "window": [[0, 1], [0, 1]]}}, 400, "window"),
    ({"surface": {"formula": "x" * 501}}, 422, "at most 500"),
    ({"extra": 1}, 422, "Extra inputs"),
])
def test_race_errors_name_the_culprit(client, body, status, words):
    req = {"surface": BOWL, "racers": [{"name": "sgd"}], "steps": 5, **body}
    r = client.post("/api/race", json=req)
    assert r.status_code == status, r.text
    assert words in r.text


def test_map_bounds_and_clicked_cell(client):
    base = {"surface": BOWL, "racer": {"name": "adam"}, "steps": 300,
            "lr": {"lo": 0.01, "hi": 1, "n": 64, "log": True}, "axis": "beta2",
            "axis_range": {"lo": 0.5, "hi": 0.999, "n": 64}}
    r = client.post("/api/map", json=base)
    assert r.status_code == 400 and "map_work" in r.json()["error"]
    r = client.post("/api/map", json={**base, "axis": "gamma"})
    assert r.status_code == 400 and "gamma" in r.json()["error"]
    r = client.post("/api/map", json={**base, "steps": 30, "lr": {**base["lr"], "n": 6},
                                      "axis_range": {**base["axis_range"], "n": 3}})
    m = r.json()
    assert np.array(m["outcome"]).shape == (3, 6)
    np.testing.assert_allclose(m["lr"], np.geomspace(0.01, 1, 6))
    # a cell's outcome is the race of that setting
    race = client.post("/api/race", json={"surface": BOWL, "steps": 30, "racers": [
        {"name": "adam", "hyper": {"lr": m["lr"][4], "beta2": m["axis_values"][1]}}]}).json()
    assert race["racers"][0]["outcome"] == m["outcome"][1][4]
    s = client.post("/api/starts", json={"surface": {"problem": "two_basin"}, "steps": 30,
                                         "racer": {"name": "momentum"}, "n": 4}).json()
    assert len(s["outcome"]) == 16 and 0 <= s["success_rate"] <= 1


def test_export_formula_race_reruns_byte_identical(client, exports, tmp_path):
    surface = {"formula": "x**2/4 + (y - 1)**2", "window": [[-6, 6], [-3, 4]]}
    body = {"surface": surface, "start": [-5.0, 3.5], "steps": 25, "animate": False,
            "racers": [{"name": "adam", "hyper": {"lr": 0.4}, "options": {"eps_mode": "inside"}},
                       {"name": "nesterov", "hyper": {"lr": 0.1}}]}
    info = client.post("/api/export", json=body).json()
    folder = exports / info["folder"]
    assert folder.is_dir() and "manifest.json" in info["files"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["rerun", str(folder / "manifest.json"), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "trajectories.csv").read_bytes() == \
        (folder / "trajectories.csv").read_bytes()
    # the exported trajectories are the page's paths
    race = client.post("/api/race", json={k: v for k, v in body.items() if k != "animate"})
    rows = (folder / "trajectories.csv").read_text().splitlines()[1:]
    first = [r for r in rows if r.startswith("adam,")]
    assert [[float(v) for v in r.split(",")[2:4]] for r in first] == \
        race.json()["racers"][0]["path"]
    # exported files are served, nothing else is
    assert client.get(f"/exports/{info['folder']}/overlay.png").status_code == 200
    for bad in ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "x/.env"):
        assert client.get(f"/exports/{info['folder']}/{bad}").status_code == 404
    assert client.get("/exports/..%2F/manifest.json").status_code == 404
    assert all(p.name.startswith("playground-") for p in exports.iterdir())


def test_page_and_schema(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    js = client.get("/static/app.js").text
    assert "//cdn" not in js and "https://" not in page.text  # everything ships inside
    schema = client.get("/openapi.json").json()
    assert {"/api/race", "/api/field", "/api/map", "/api/export"} <= set(schema["paths"])


def test_optimizers_endpoint_lists_every_registered_optimizer(client, registered):
    class Halve(optim.SGD):
        """Halve: SGD with half the rate (a test double)."""

        name = "halve"

    registered(Halve)
    body = client.get("/api/optimizers").json()
    assert body["names"] == optim.available() and "halve" in body["names"]
    assert body["describe"]["halve"]["class"] == "Halve"
    r = client.post("/api/race", json={"surface": BOWL, "steps": 3,
                                       "racers": [{"name": "halve", "hyper": {"lr": 0.1}}]})
    assert r.status_code == 200


# ---------------------------------------------------------------------- fuzzing
def from_schema(schema: dict, root: dict | None = None) -> st.SearchStrategy:
    """Hypothesis strategy for the JSON-schema subset pydantic publishes ($ref, anyOf, enum,
    objects, arrays and tuples, strings with length and pattern, bounded numbers), plus now
    and then a value of the wrong type, a missing required key or an extra key."""
    root = schema if root is None else root
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(root["components"]["schemas"][name], root))
    if "anyOf" in schema:
        return st.one_of([from_schema(s, root) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    wrong = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        if not props:  # a mapping: name → value
            keys = st.from_regex(schema.get("propertyNames", {}).get("pattern", ".*"),
                                 fullmatch=True).filter(lambda k: len(k) <= 40)
            values = from_schema(schema.get("additionalProperties", {}), root)
            return st.dictionaries(keys | st.sampled_from(["lr", "beta2", "eps_mode",
                                                           "momentum", "amsgrad"]),
                                   values, max_size=4)
        fields = {k: from_schema(v, root) for k, v in props.items()}

        @st.composite
        def obj(draw):
            out = {}
            for k, strat in fields.items():
                if k in required or draw(st.booleans()):
                    out[k] = draw(strat)
            if draw(st.integers(0, 30)) == 0:
                out.pop(draw(st.sampled_from(sorted(out))), None) if out else None
            if draw(st.integers(0, 30)) == 0:
                out["unexpected"] = 1
            return out
        return obj()
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*[from_schema(s, root) for s in schema["prefixItems"]]).map(list)
        return st.lists(from_schema(schema.get("items", {}), root),
                        min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "string":
        base = st.from_regex(schema["pattern"], fullmatch=True) if "pattern" in schema else \
            st.text(max_size=min(schema.get("maxLength", 30), 30))
        return base | st.sampled_from(["x**2 + y", "x*y", "sin(x)", "x**", "bowl", "adam"])
    if kind == "integer":
        return st.integers(schema.get("minimum", -5) - 1, schema.get("maximum", 50) + 1) | wrong
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
            [0.0, 1e-3, 0.3, 0.999, 1.0, -1.0, 1e300]) | wrong
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return wrong


def _request_schemas() -> dict[str, dict]:
    doc = create_app("unused").openapi()
    out = {}
    for path, ops in doc["paths"].items():
        post = ops.get("post")
        if post:
            ref = post["requestBody"]["content"]["application/json"]["schema"]
            out[path] = {**ref, "components": doc["components"]}
    return out


def _cheap(schema: dict, narrow: bool) -> dict:
    """The schema with integer maxima lowered (steps, grid sizes: the bounds themselves are
    tested above) so that an example runs in milliseconds; ``narrow``: names from the
    catalogue and the registry, so that examples reach the computations."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "integer" and node.get("maximum", 0) > 12:
                node["maximum"] = 12
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    if narrow:
        comps = s["components"]["schemas"]
        comps["SurfaceIn"]["properties"]["problem"] = {"enum": problems.names()}
        comps["SurfaceIn"]["properties"].pop("formula")
        comps["SurfaceIn"]["properties"].pop("window")
        comps["SurfaceIn"]["required"] = ["problem"]
        comps["RacerIn"]["properties"]["name"] = {"enum": optim.available()}
    return s


SCHEMAS = _request_schemas()


@pytest.mark.parametrize("narrow", [False, True], ids=["schema", "catalogue-registry"])
@pytest.mark.parametrize("path", sorted(p for p in SCHEMAS if p != "/api/export"))
def test_fuzz_no_server_error(client, path, narrow):
    strategy = from_schema(_cheap(SCHEMAS[path], narrow))

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=strategy)
    def check(body):
        r = client.post(path, content=json.dumps(body),
                        headers={"Content-Type": "application/json"})
        assert r.status_code < 500, (body, r.text)
        assert r.status_code in (200, 400, 404, 422), (body, r.text)
        if r.status_code == 400:
            assert r.json()["error"]

    check()


@settings(max_examples=15, deadline=None, database=None)
@given(raw=st.one_of(st.binary(max_size=60), st.text(max_size=60)))
def test_fuzz_malformed_bodies(client, raw):
    for path in ("/api/race", "/api/map", "/api/trace"):
        r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422)


def test_export_writes_only_inside_its_folder(client, exports):
    body = {"surface": BOWL, "racers": [{"name": "sgd"}], "steps": 2, "animate": False,
            "out": "/tmp/elsewhere"}
    assert client.post("/api/export", json=body).status_code == 422  # no path from outside
    before = set(exports.iterdir())
    body.pop("out")
    info = client.post("/api/export", json=body).json()
    assert set(exports.iterdir()) - before == {exports / info["folder"]}


# ---------------------------------------------------------------------- the command
def test_serve_without_its_extra_says_so(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "uvicorn":
            raise ImportError("no uvicorn", name="uvicorn")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    assert "pip install 'descentlab[serve]'" in serve.missing_dependencies()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli(["serve", "--port", "0"]) == 2
    assert "descentlab[serve]" in err.getvalue()


def test_serve_port_taken_is_an_input_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(InputError, match="--port"):
            serve.free_port("127.0.0.1", s.getsockname()[1])
    assert serve.free_port("127.0.0.1", 0) > 0
    with pytest.raises(InputError, match="0..65535"):
        cli_args = serve.argparse.Namespace(port=70000, host="127.0.0.1", open=False,
                                            exports="x")
        serve.run(cli_args)


def test_limits_are_documented():
    text = open("docs/playground.md", encoding="utf-8").read()
    for name, value in compute.LIMITS.items():
        assert f"`{name}`" in text and f"{value:,}" in text, name


# ---------------------------------------------------------------------- noise and seeds
def test_noise_where_the_lab_has_it(client, exports, tmp_path):
    """Seeded gradient noise and start spread come from the lab's engine when it has them
    (the compare branch adds them); without them a noisy request is a clear 400."""
    from descentlab.lab.race import race

    body = {"surface": BOWL, "start": [-7.0, 2.0], "steps": 30,
            "racers": [{"name": "momentum", "hyper": {"lr": 0.1}}],
            "noise": {"sigma": 0.5, "spread": 0.0, "seed": 3}}
    assert client.get("/api/features").json() == {"noise": compute.lab_has_noise()}
    quiet = client.post("/api/race", json={**body, "noise": {"sigma": 0, "spread": 0}})
    assert quiet.status_code == 200
    r = client.post("/api/race", json=body)
    if not compute.lab_has_noise():
        assert r.status_code == 400 and "no gradient noise" in r.json()["error"]
        assert r.json()["field"] is None or r.json()["field"] == "noise"
        return
    assert r.status_code == 200
    path = r.json()["racers"][0]["path"]
    expect = race(problems.get("bowl"), ["momentum:lr=0.1"], (-7.0, 2.0), 30, seeds=[3],
                  noise=0.5).entries[0].path
    assert path == expect.tolist() and path != quiet.json()["racers"][0]["path"]
    # the drag field's lattice runs see the race's noise (it depends on the seed only)
    f = client.post("/api/field", json={k: body[k] for k in ("surface", "racers", "steps",
                                                             "noise")}).json()
    n = len(f["axes"][0])
    data = np.frombuffer(base64.b64decode(f["paths"][0]), "<f4").reshape(n * n, 31, 2)
    start = [f["axes"][0][2], f["axes"][1][5]]
    one = client.post("/api/race", json={**body, "start": start}).json()["racers"][0]["path"]
    np.testing.assert_array_equal(data[5 * n + 2][: len(one)], np.float32(one))
    spread = {**body["noise"], "spread": 0.5}
    assert client.post("/api/field", json={**{k: body[k] for k in ("surface", "racers",
                                                                  "steps")},
                                           "noise": spread}).status_code == 400
    info = client.post("/api/export", json={**body, "noise": spread, "animate": False}).json()
    folder = exports / info["folder"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["rerun", str(folder / "manifest.json"), "--out", str(tmp_path / "n")]) == 0
    assert (tmp_path / "n" / "trajectories.csv").read_bytes() == \
        (folder / "trajectories.csv").read_bytes()
    page = client.post("/api/race", json={**body, "noise": spread}).json()["racers"][0]["path"]
    rows = [r for r in (folder / "trajectories.csv").read_text().splitlines()[1:]]
    assert [[float(v) for v in row.split(",")[2:4]] for row in rows] == page


def test_options_of_every_kind_reach_the_optimizer(client):
    """A nullable choice (L-BFGS's line search: None or strong_wolfe) and a count (max_iter:
    the JSON 1 once became the spec's 1.0 and was refused) travel as the page sends them."""
    body = {"surface": {"problem": "rosenbrock"}, "steps": 3}
    paths = []
    for fn in (None, "strong_wolfe"):
        r = client.post("/api/race", json={**body, "racers": [
            {"name": "lbfgs", "hyper": {"lr": 1},
             "options": {"line_search_fn": fn, "max_iter": 4}}]})
        assert r.status_code == 200, r.text
        paths.append(r.json()["racers"][0]["path"])
    assert paths[0] != paths[1]  # the option took effect
    r = client.post("/api/race", json={**body, "racers": [
        {"name": "lbfgs", "options": {"max_iter": 1.5}}]})
    assert r.status_code == 400 and "max_iter" in r.text
