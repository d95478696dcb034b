"""``descentlab serve``: the playground, a local web app (docs/playground.md)."""

from __future__ import annotations

import argparse
import ipaddress
import socket

from ..errors import InputError
from . import _common

EXAMPLE = """examples:
  descentlab serve                      # http://127.0.0.1:8765/
  descentlab serve --port 0 --open      # any free port, and open a browser on it
  descentlab serve --host 0.0.0.0       # a classroom: http://ADDRESS:8765/?token=...

Binds to 127.0.0.1 unless --host says otherwise. On any other address every request needs
the access token in the printed address (a new random one each start, or --token); on
127.0.0.1 only with --token. Exports are written under --exports (default out/playground)."""

LOOPBACK = ("127.0.0.1", "::1", "localhost")


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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_token(host: str, token: str | None) -> str | None:
    """The token the server will ask for: ``--token`` as given (``auto``: a new random one);
    without it, a new one unless ``host`` is loopback (then none)."""
    from ..playground.guard import TOKEN_PATTERN, new_token

    if token is None:
        return None if is_loopback(host) else new_token()
    if token == "auto":
        return new_token()
    if not TOKEN_PATTERN.match(token):
        raise InputError("--token: 8 to 128 characters of A-Z a-z 0-9 _ - (or 'auto' for a "
                         "random one)")
    return token


def own_address() -> str:
    """This machine's address on its network (no packet is sent), else its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


def run(args: argparse.Namespace) -> int:
    problem = missing_dependencies()
    if problem:
        raise InputError(problem)
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    token = access_token(args.host, args.token)
    import uvicorn

    from ..playground.app import create_app
    from ..playground.pool import Pool

    port = free_port(args.host, args.port)
    shown = args.host if args.host not in ("0.0.0.0", "::") else own_address()
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"descentlab playground at {url}  (exports to {args.exports}/; Ctrl-C stops)",
          flush=True)
    if token and not is_loopback(args.host):
        print(f"listening on {args.host}: anyone on the network with this address (and its "
              "token) can use the playground", flush=True)
    if args.open:
        import threading
        import webbrowser

        threading.Timer(0.8, webbrowser.open, (url,)).start()
    app = create_app(args.exports, token=token, pool=Pool())
    uvicorn.run(app, host=args.host, port=port, log_level="warning", limit_concurrency=512,
                timeout_keep_alive=30)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the playground: an interactive lab in the browser",
                       description="Start the playground, a local web app: surfaces, racers "
                       "with every hyperparameter and option, drag the start, play, internals, "
                       "stability maps, export with a manifest.", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0: every network, which "
                   "requires the access token)")
    p.add_argument("--token", default=None, metavar="TOKEN",
                   help="the access token every request must carry (8-128 of A-Z a-z 0-9 _ -;"
                   " 'auto': a random one); default: a random one unless --host is loopback")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("--exports", default="out/playground", metavar="DIR",
                   help="folder the export button writes to (default out/playground)")
    _common.add_plugin_argument(p)
    p.set_defaults(run=run)
