"""Run checkov on synthesized stacks and apply the skips written next to each resource.

checkov's terraform_json runner ignores inline skips (bridgecrewio/checkov#4634), so constructs
record them in the resource's `//` field (`modules.common.skip_checks`) and this module moves a
failed check to "skipped" only when its resource carries a skip for that check id, with a reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdeploy.errors import OperationError

CHECKOV_ENV = "LLMDEPLOY_CHECKOV"
#: Where scripts/setup installs checkov (its pins conflict with llmdeploy's own).
CHECKOV_VENV_BINARY = Path(".venv-checkov") / "bin" / "checkov"


@dataclass
class Finding:
    check: str
    resource: str
    file: str
    reason: str = ""


@dataclass
class Scan:
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    #: Skips written in code that no failed check used: stale, or attached to the wrong resource.
    unused: list[Finding] = field(default_factory=list)


def find_checkov(project: Path) -> str | None:
    """$LLMDEPLOY_CHECKOV, the project's .venv-checkov (scripts/setup), or checkov on PATH."""
    for candidate in (os.environ.get(CHECKOV_ENV), str(project / CHECKOV_VENV_BINARY)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


def scan(checkov: str, root: Path) -> Scan:
    """checkov over every cdk.tf.json under `root`, offline, with the in-code skips applied."""
    command = [checkov, "-d", str(root), "--framework", "terraform_json", "--skip-download"]
    done = subprocess.run(
        [*command, "--quiet", "--compact", "-o", "json"], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise OperationError(
            f"checkov failed on {root} (exit {done.returncode}): {done.stderr[-2000:].strip()}. "
            "Run the same command by hand to see its full output: " + " ".join(command)
        )
    report = json.loads(done.stdout or "[]")
    if isinstance(report, list):  # one entry per framework; none when nothing was scanned
        report = report[0] if report else {"summary": {"passed": 0}, "results": {}}
    return _apply_skips(report, _skips_by_resource(root))


def _skips_by_resource(root: Path) -> dict[tuple[str, str, str], str]:
    """(stack file relative to root, resource name, check id) -> reason."""
    return {
        (str(path.relative_to(root)), name, skip["id"]): skip["comment"]
        for path in sorted(root.rglob("cdk.tf.json"))
        for name, skip in _skips(json.loads(path.read_text(encoding="utf-8")))
    }


def _apply_skips(report: dict[str, Any], skips: dict[tuple[str, str, str], str]) -> Scan:
    outcome = Scan(passed=report["summary"]["passed"])
    used = set()
    for entry in report["results"].get("failed_checks", []):
        file = entry["file_path"].lstrip("/")
        key = next(
            (
                k
                for k in skips
                if k[0] == file and k[2] == entry["check_id"] and entry["resource"].endswith(f".{k[1]}")
            ),
            None,
        )
        finding = Finding(entry["check_id"], entry["resource"], file)
        if key is None:
            outcome.failed.append(finding)
        else:
            used.add(key)
            finding.reason = skips[key]
            outcome.skipped.append(finding)
    outcome.unused = [
        Finding(check, name, file, reason)
        for (file, name, check), reason in skips.items()
        if (file, name, check) not in used
    ]
    return outcome


def _skips(doc: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [
        (name, skip)
        for resources in doc.get("resource", {}).values()
        for name, config in resources.items()
        for skip in config.get("//", {}).get("checkov", {}).get("skip", [])
    ]
