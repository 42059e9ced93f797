"""`rnn-tui serve [RUN_DIR]`: the attached dashboard in a web browser, through textual-serve.

Every browser tab runs its own `rnn-tui attach RUN_DIR` (textual-serve starts one process per
tab); closing the tab detaches that viewer, never the run. The page is rnn-tui's own template
(tui/web/app_index.html): it loads nothing but what this server serves, so it works offline.
The server binds 127.0.0.1 unless --host says otherwise, and then warns: it has no login, and
anyone who can reach the port can steer the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from ..options import Parser, UsageError
from ..output import print_error

SUMMARY = "the dashboard of a live run in a web browser (127.0.0.1:8000; tunnel it over SSH)"
EXAMPLE = "rnn-tui serve runs/kafka --port 8000"
TEMPLATES = Path(__file__).resolve().parents[1] / "web"
SESSION_END_WAIT = 5.0  # seconds the tabs' viewers get to leave when the server stops


def parser(prog: str = "rnn-tui serve") -> Parser:
    """Options of `rnn-tui serve`."""
    p = Parser(
        prog=prog,
        description="Show the dashboard of a live run in a web browser. Over SSH: "
        "ssh -L 8000:127.0.0.1:8000 HOST, then open http://127.0.0.1:8000",
    )
    p.add_argument(
        "run_dir",
        nargs="?",
        metavar="RUN_DIR",
        help="the run's folder (default: the only live run)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; anything else warns)",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not http://HOST:PORT (a proxy, another name)",
    )
    return p


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """UsageError, before anything starts, when the port cannot be listened on."""
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535 (got {port})")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = "is in use" if exc.errno == 98 else f"cannot be used ({exc.strerror or exc})"
        raise UsageError(f"port {port} on {host} {reason}; choose another with --port") from None


def main(argv: list[str], prog: str = "rnn-tui serve") -> int:
    """Serve the dashboard of a live run until Ctrl-C."""
    args = parser(prog).parse_args(argv)
    from ..runlist import choose_run

    check_port(args.host, args.port)
    run_dir = choose_run(args.run_dir, verb="serve").resolve()
    if not is_loopback(args.host):
        print_error(
            f"serving on {args.host}:{args.port}, which other machines may reach: there is no "
            "login, and anyone who can reach the port can watch and steer the run (pause it, "
            "change its settings, stop it)",
            "warning",
        )
    public_url = args.public_url
    if public_url is None and args.host in ("0.0.0.0", "::"):
        public_url = f"http://{socket.getfqdn()}:{args.port}"
    command = shlex.join([sys.executable, "-m", "rnn_tui", "attach", str(run_dir)])
    server = make_server(command, args.host, args.port, public_url, run_dir)
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port, say
        raise UsageError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    return 0


def make_server(command: str, host: str, port: int, public_url: str | None, run_dir: Path) -> Any:
    """textual-serve's Server with rnn-tui's page, quiet logs, and a prompt shutdown."""
    from textual_serve.server import Server

    class RunWebServer(Server):
        def __init__(self) -> None:
            super().__init__(
                command,
                host=host,
                port=port,
                title=f"rnn-tui: {run_dir.name}",
                public_url=public_url,
                templates_path=TEMPLATES,
            )
            self.sessions: set[asyncio.Task[Any]] = set()

        def initialize_logging(self) -> None:
            logging.basicConfig(level="WARNING", format="rnn-tui serve: %(message)s")

        async def on_startup(self, app: Any) -> None:
            # the SSH session that started it has gone (`ssh -t -L … host rnn-tui serve`, then
            # a dropped link): stop serving, as Ctrl-C does, instead of holding the port forever
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request_exit)
            print(
                f"Serving the dashboard of {run_dir} on {self.public_url} "
                "(Ctrl+C stops serving; the run goes on)",
                flush=True,
            )

        async def handle_websocket(self, request: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self.sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                if task is not None:
                    self.sessions.discard(task)

        async def on_shutdown(self, app: Any) -> None:
            # End the tabs' sessions now (each viewer leaves; the run goes on) instead of
            # waiting for aiohttp's graceful timeout with the websockets still open.
            tasks = [task for task in self.sessions if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=SESSION_END_WAIT)

    return RunWebServer()
