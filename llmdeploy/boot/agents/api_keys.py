"""Keep the accepted API keys in a root-only file for the gate agent, refreshed from the secret store.

Reads $API_KEY_SECRET and, when set, $NEXT_API_KEY_SECRET (the key clients move to during a rotation)
every $API_KEY_REFRESH_SECONDS, and writes them one per line to $API_KEYS_FILE. A failed read keeps
the keys already in the file, so a secret-store hiccup never locks clients out; rotation needs no
restart. The values never reach a log.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .metadata import Metadata, log
from .secret_store import fetch, write_private

#: After a failed read, try again this soon rather than after a whole refresh period.
RETRY_S = 30.0


def refresh(cloud: str, metadata: Metadata, path: Path) -> bool:
    """Write the current keys to `path`; False (file untouched) if any secret could not be used."""
    names = [name for name in (os.environ["API_KEY_SECRET"], os.environ.get("NEXT_API_KEY_SECRET")) if name]
    keys = []
    for name in names:
        try:
            keys.append(fetch(cloud, name, metadata))
        except Exception as error:  # one readable line for the journal, never the secret
            log(f"cannot read the API key from secret {name!r} on {cloud}: {error}; keeping {path}")
            return False
    write_private(path, "".join(f"{key}\n" for key in keys))
    log(f"API keys read from secret(s) {', '.join(repr(name) for name in names)}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-cycles", type=int, default=0, help="stop after this many reads (0: never)")
    args = parser.parse_args(argv)
    cloud, path = os.environ["CLOUD"], Path(os.environ["API_KEYS_FILE"])
    every = float(os.environ["API_KEY_REFRESH_SECONDS"])
    metadata, cycles = Metadata(cloud), 0
    while not args.max_cycles or cycles < args.max_cycles:
        cycles += 1
        done = refresh(cloud, metadata, path)
        if args.max_cycles and cycles >= args.max_cycles:
            break
        time.sleep(every if done else min(RETRY_S, every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
