"""``descentlab serve``: the playground, a local web app (docs/playground.md)."""

from __future__ import annotations

import argparse
import socket

from ..errors import InputError
from . import _common

EXAMPLE = """examples:
  descentlab serve                      # http://127.0.0.1:8765/
  descentlab serve --port 0 --open      # any free port, and open a browser on it

Binds to 127.0.0.1 unless --host says otherwise (the playground has no authentication);
exports are written under --exports (default out/playground)."""


def missing_dependencies() -> str | None:
    """The message for a descentlab installed without its ``serve`` extra, else None."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        return (f"descentlab serve needs the 'serve' extra ({e.name} is not installed): "
                "pip install 'descentlab[serve]'")
    return None


def free_port(host: str, port: int) -> int:
    """``port``, or any free one when ``port`` is 0; InputError if it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); "
                             "choose another port, or --port 0 for any free one") from None
        return s.getsockname()[1]


def run(args: argparse.Namespace) -> int:
    problem = missing_dependencies()
    if problem:
        raise InputError(problem)
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    import uvicorn

    from ..playground.app import create_app

    port = free_port(args.host, args.port)
    url = f"http://{args.host}:{port}/"
    print(f"descentlab playground at {url}  (exports to {args.exports}/; Ctrl-C stops)",
          flush=True)
    if args.open:
        import threading
        import webbrowser

        threading.Timer(0.8, webbrowser.open, (url,)).start()
    uvicorn.run(create_app(args.exports), host=args.host, port=port, log_level="warning")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the playground: an interactive lab in the browser",
                       description="Start the playground, a local web app: surfaces, racers "
                       "with every hyperparameter and option, drag the start, play, internals, "
                       "stability maps, export with a manifest.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("--exports", default="out/playground", metavar="DIR",
                   help="folder the export button writes to (default out/playground)")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
