"""Files and lines per layer at two commits, and the longest module: issue 12's figures.

    python benchmarks/layers.py [BEFORE [AFTER]]

BEFORE defaults to 502d84f, the parent of a4c968d (the first commit of the issue 12 work: sizing
moves out of plan/, plan/endpoints.py); AFTER defaults to HEAD. Counts come from git's trees, so
the working folder's state does not matter. Python files only, except templates/ (every file).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

BEFORE = "502d84f"
CORE_PARTS = ("config", "plan", "clouds", "boot", "routing", "release", "status", "cli")
CLOUDS = ("aws", "gcp", "azure")


def layer(path: str) -> str | None:
    """The layer a file counts in; None for files outside every layer."""
    parts = path.split("/")
    if parts[0] == "templates":
        return "templates"
    if not path.endswith(".py"):
        return None
    if parts[0] == "llmdeploy":
        return f"llmdeploy/{parts[1]}" if len(parts) > 2 and parts[1] in CORE_PARTS else "llmdeploy/(other)"
    if parts[0] == "modules":
        return f"modules/{parts[1]}" if len(parts) > 2 and parts[1] in CLOUDS else "modules/(shared)"
    if parts[0] in ("stacks", "tests"):
        return parts[0]
    return None


def lines_at(rev: str) -> dict[str, int]:
    """Every counted file at `rev` and its number of lines."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev], check=True, capture_output=True, text=True
    ).stdout.split()
    counted = [path for path in listing if layer(path) is not None]
    blobs = "".join(f"{rev}:{path}\n" for path in counted)
    batch = subprocess.run(
        ["git", "cat-file", "--batch"], input=blobs.encode(), check=True, capture_output=True
    ).stdout
    sizes: dict[str, int] = {}
    offset = 0
    for path in counted:
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        body = batch[header_end + 1 : header_end + 1 + size]
        sizes[path] = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        offset = header_end + 1 + size + 1
    return sizes


def table(before: dict[str, int], after: dict[str, int]) -> list[str]:
    files_b, files_a = Counter(map(layer, before)), Counter(map(layer, after))
    lines_b, lines_a = Counter[str | None](), Counter[str | None]()
    for path, count in before.items():
        lines_b[layer(path)] += count
    for path, count in after.items():
        lines_a[layer(path)] += count
    order = sorted(set(files_b) | set(files_a), key=lambda name: (name or "").replace("(", "~"))
    rows = [
        "| layer | files before | lines before | files after | lines after |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in order:
        rows.append(f"| {name} | {files_b[name]} | {lines_b[name]} | {files_a[name]} | {lines_a[name]} |")
    for total, prefix in (("llmdeploy/ (all)", "llmdeploy/"), ("all layers", "")):
        fb, fa = (sum(v for k, v in c.items() if (k or "").startswith(prefix)) for c in (files_b, files_a))
        lb, la = (sum(v for k, v in c.items() if (k or "").startswith(prefix)) for c in (lines_b, lines_a))
        rows.append(f"| **{total}** | {fb} | {lb} | {fa} | {la} |")
    return rows


def longest(sizes: dict[str, int], tests: bool) -> str:
    path = max(
        (p for p in sizes if p.startswith("tests/") == tests and p.endswith(".py")), key=sizes.__getitem__
    )
    return f"{path} ({sizes[path]} lines)"


def main(argv: list[str]) -> None:
    before_rev = argv[0] if argv else BEFORE
    after_rev = argv[1] if len(argv) > 1 else "HEAD"
    before, after = lines_at(before_rev), lines_at(after_rev)
    print(f"before = {before_rev}, after = {after_rev}\n")
    print("\n".join(table(before, after)))
    print()
    for label, sizes in (("before", before), ("after", after)):
        print(f"longest module {label}: {longest(sizes, tests=False)}")
        print(f"longest test module {label}: {longest(sizes, tests=True)}")


if __name__ == "__main__":
    main(sys.argv[1:])
