"""The playground's door: the access token and the request body limit, checked before any
route runs (an ASGI middleware around the app).

With a token (``descentlab serve --host 0.0.0.0`` always has one), every request needs it —
the page, its scripts and every API call: in the query once (``/?token=...``, the address
``serve`` prints; the answer sets a cookie and, for a page, redirects to the address without
it), in a header (``Authorization: Bearer ...`` or ``X-Descentlab-Token``), or in the cookie.
Without it: 401. A body longer than ``max_body`` bytes: 413, before it is read any further;
a body that has not arrived within ``body_seconds`` (a client trickling bytes): 408.
Both answers are ``{"error": message, "field": name}`` like the app's own.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> app = FastAPI()
>>> app.get("/hi")(lambda: "hello")  # doctest: +ELLIPSIS
<function <lambda> at ...>
>>> client = TestClient(Guard(app, token="s3cret-token", max_body=100))
>>> client.get("/hi").status_code, client.get("/hi?token=s3cret-token").json()
(401, 'hello')
>>> client.get("/hi").status_code  # the cookie from the first answer
200
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,128}\Z")


def new_token() -> str:
    """A fresh random access token (``secrets.token_urlsafe``, 128 bits)."""
    return secrets.token_urlsafe(16)


class Guard:
    """ASGI middleware: ``token`` (None: no token needed) and ``max_body`` (bytes)."""

    def __init__(self, app: Any, token: str | None = None, max_body: int = 65_536,
                 body_seconds: float = 10.0) -> None:
        if token is not None and not TOKEN_PATTERN.match(token):
            raise ValueError("token: 8 to 128 characters of A-Z a-z 0-9 _ -")
        self.app = app
        self.token = token
        self.max_body = max_body
        self.body_seconds = body_seconds
        self.cookie = None if token is None else \
            "descentlab_token_" + hashlib.sha256(token.encode()).hexdigest()[:8]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        via_query = False
        if self.token is not None:
            given = self._presented(scope, query)
            if not any(secrets.compare_digest(g.encode(), self.token.encode()) for g in given):
                await _answer(send, 401, "token", "this playground needs its access token: "
                              "open the address `descentlab serve` printed (…/?token=…)")
                return
            via_query = any(k == "token" for k, _ in query)
            if via_query and scope["method"] in ("GET", "HEAD") and \
                    not scope["path"].startswith(("/api/", "/exports/", "/static/")):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                await _redirect(send, quote(scope["path"]) + ("?" + rest if rest else ""),
                                self._set_cookie())
                return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _answer(send, 413, "body", f"body: longer than {self.max_body:,} bytes "
                          "(limit 'body_bytes')")
            return
        body, more = bytearray(), True
        deadline = asyncio.get_running_loop().time() + self.body_seconds
        while more:  # read the whole body here, bounded in size and time, then hand it on
            try:
                message = await asyncio.wait_for(
                    receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                await _answer(send, 408, "body", f"body: not received within "
                              f"{self.body_seconds:g} s")
                return
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _answer(send, 413, "body", f"body: longer than {self.max_body:,} "
                              "bytes (limit 'body_bytes')")
                return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", self._set_cookie())]}
            await send(message)

        await self.app(scope, replay, send_with_cookie if via_query else send)

    def _presented(self, scope: dict, query: list[tuple[str, str]]) -> list[str]:
        given = [v for k, v in query if k == "token"]
        auth = _header(scope, b"authorization")
        if auth and auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        header = _header(scope, b"x-descentlab-token")
        if header:
            given.append(header)
        raw = _header(scope, b"cookie")
        if raw:
            try:
                jar = SimpleCookie(raw)
            except Exception:  # a malformed cookie header: as if absent
                jar = SimpleCookie()
            if self.cookie in jar:
                given.append(jar[self.cookie].value)
        return given

    def _set_cookie(self) -> bytes:
        return (f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict").encode()


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Any, status: int, field: str, message: str) -> None:
    body = json.dumps({"error": message, "field": field}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, location: str, cookie: bytes) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


__all__ = ["Guard", "new_token", "TOKEN_PATTERN"]
