"""Generated parts of the README, kept between markers so that a test can prove them current.

Regenerate with `python -m llmdeploy.docs` after changing capabilities or the config models.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from llmdeploy.atomic_write import write_atomically
from llmdeploy.capabilities import feature_matrix_markdown
from llmdeploy.config.reference import reference_markdown

README = Path("README.md")
SECTIONS: dict[str, Callable[[], str]] = {
    "FEATURE MATRIX": feature_matrix_markdown,
    "CONFIG REFERENCE": reference_markdown,
}


def refresh(text: str) -> str:
    """`text` with every generated section replaced by its current content."""
    for name, render in SECTIONS.items():
        begin, end = f"<!-- BEGIN {name} -->\n", f"<!-- END {name} -->"
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
        text = pattern.sub(f"{begin}{render()}\n{end}".replace("\\", "\\\\"), text)
    return text


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else README
    write_atomically(path, refresh(path.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
