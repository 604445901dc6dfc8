"""The launcher process: correct moto, serve it, announce where it listens.

Run as `python -m llmdeploy.emulator --host 127.0.0.1 --port N [--state-dir D]`.
Port 0 lets the kernel pick a free port at bind time, which avoids the race of
probing for a free port first; the chosen port is written to the state file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from werkzeug.serving import BaseWSGIServer, make_server

from llmdeploy.atomic_write import write_atomically
from llmdeploy.emulator.corrections import apply_corrections, correction_names
from llmdeploy.emulator.seeds import seed_dlami_parameters
from llmdeploy.emulator.state import STATE_FILE


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m llmdeploy.emulator",
        description="Run the moto AWS emulator with llmdeploy's fidelity corrections.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-dir", type=Path, help=f"where to write {STATE_FILE} once listening")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=correction_names(),
        help="leave one correction out (tests use it to prove a correction is needed)",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not seed the DLAMI SSM parameters")
    return parser.parse_args(argv)


def _announce(state_dir: Path, host: str, port: int, applied: list[str]) -> None:
    """Write the state file last, so its presence means "listening and corrected"."""
    record = {
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "endpoint_url": f"http://{host}:{port}",
        "corrections": applied,
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(state_dir / STATE_FILE, json.dumps(record, indent=2) + "\n")


def _wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT; the server itself runs in a daemon thread."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    stop.wait()


def _forget(state_dir: Path | None) -> None:
    """Remove our state file on a clean exit, but only if it still names us."""
    if state_dir is None:
        return
    path = state_dir / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _bind(host: str, port: int) -> BaseWSGIServer:
    """Bind in the main thread, so a bad address or busy port fails the launcher at once.

    (moto's ThreadedMotoServer binds in its thread and then waits forever on an
    event the failed thread never sets.) Same app and handler as moto's server.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    app = DomainDispatcherApplication(create_backend_app)
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def serve(args: argparse.Namespace) -> None:
    # The corrections must patch moto's model classes before the first request
    # creates a backend.
    applied = apply_corrections(skip=args.skip)
    if not args.no_seed:
        seed_dlami_parameters()
    try:
        server = _bind(args.host, args.port)
    except (OSError, SystemExit):  # werkzeug prints the reason, then exits
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        raise
    # A short poll interval makes shutdown (and so `local down`) prompt.
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    if args.state_dir is not None:
        _announce(args.state_dir, host, port, applied)
    print(f"llmdeploy emulator listening on http://{host}:{port}", flush=True)
    try:
        _wait_for_signal()
    finally:
        _forget(args.state_dir)
        server.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    serve(parse_args(argv))
    # All state is in memory and the state file is gone: skip the interpreter's
    # teardown of moto's many modules, which makes `local down` noticeably slower.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
