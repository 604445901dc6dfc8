"""The layers hold: checked statically over the source (every file, every import, lazy ones too), and at
runtime for the CLI's own imports.

- `modules/` (CDK constructs) only translate the plan: they never import `llmdeploy.config` or
  `llmdeploy.status`;
- `llmdeploy/` runs without Node.js: it never imports CDK code or any provider binding;
- every cloud folder under `llmdeploy/clouds/` has the same files and exports its `DRIVER`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeploy.clouds import CLOUD_FILES
from tests.conftest import EXAMPLE_VARIABLES, REPO

#: Top-level packages of CDK code: the CDK libraries, jsii, the prebuilt provider bindings of every
#: cloud (`cdktn_provider_aws`, `..._google`, `..._azurerm`; also cdktf's `cdktf_cdktf_provider_*`),
#: bindings `cdktn get` generates into `imports/`, and our own CDK layers.
CDK_PACKAGES = ("cdktf", "cdktn", "constructs", "jsii", "imports", "modules", "stacks")
CDK_PREFIXES = ("cdktn_provider_", "cdktf_cdktf_provider_", "cdktf_provider_")

#: What constructs may not read: they take resolved values from the plan.
MODULES_FORBIDDEN = ("llmdeploy.config", "llmdeploy.status")


def _sources(layer: str) -> list[Path]:
    return sorted((REPO / layer).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def imported_modules(path: Path) -> list[str]:
    return imports_in(path.read_text(), path.relative_to(REPO))


def imports_in(source: str, where: Path) -> list[str]:
    """Every module `source` (the file at repo-relative `where`) imports, anywhere in it, as a dotted name.

    `from a import b` gives `a.b` too (`b` may be a submodule); relative imports resolve from `where`;
    `importlib.import_module` with a literal, or an f-string's literal head, counts as an import.
    """
    package = list(where.parts[:-1])
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=str(where))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            found.extend(_literal_head(node.args[0]))
    return found


def _literal_head(argument: ast.expr) -> list[str]:
    if isinstance(argument, ast.JoinedStr) and argument.values:
        argument = argument.values[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value.rstrip(".")]
    return []


def _is_import_module(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def is_cdk(module: str) -> bool:
    top = module.split(".")[0]
    return top in CDK_PACKAGES or top.startswith(CDK_PREFIXES)


def modules_violations(path: Path) -> list[str]:
    return sorted(
        {name for name in imported_modules(path) if any(_within(name, bad) for bad in MODULES_FORBIDDEN)}
    )


def test_the_checker_sees_every_import_form() -> None:
    """The scan is only as good as its parser: each way of importing is found (a guard on the guard)."""
    source = (
        "import cdktn_provider_google.provider\n"
        "from .labels import gcp_labels\n"
        "def lazy(cloud):\n"
        "    from llmdeploy import status\n"
        "    import importlib\n"
        "    importlib.import_module(f'stacks.{cloud}')\n"
    )
    found = imports_in(source, Path("modules/gcp/probe.py"))
    assert {"cdktn_provider_google.provider", "modules.gcp.labels", "llmdeploy.status", "stacks"} <= set(
        found
    )
    assert is_cdk("cdktn_provider_google.provider") and is_cdk("stacks") and is_cdk("cdktn")
    assert not is_cdk("llmdeploy.status") and not is_cdk("json")
    assert imports_in("from ..config import clouds\n", Path("llmdeploy/plan/x.py")) == [
        "llmdeploy.config",
        "llmdeploy.config.clouds",
    ]


def test_core_imports_no_cdk_code() -> None:
    """`llmdeploy/` runs without Node.js: no CDK library, provider binding, construct or stack."""
    offenders = {
        _relative(path): sorted(name for name in imported_modules(path) if is_cdk(name))
        for path in _sources("llmdeploy")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_constructs_import_neither_config_nor_status() -> None:
    """Constructs translate the resolved plan: reading config or status from modules/ is a new violation."""
    violating = {_relative(path): modules_violations(path) for path in _sources("modules")}
    assert {path: names for path, names in violating.items() if names} == {}


def _cloud_folders() -> list[Path]:
    root = REPO / "llmdeploy" / "clouds"
    return sorted(path for path in root.iterdir() if path.is_dir() and path.name != "__pycache__")


def _cloud_files() -> dict[str, list[str]]:
    return {folder.name: sorted(path.name for path in folder.glob("*.py")) for folder in _cloud_folders()}


def test_every_cloud_folder_has_the_same_files() -> None:
    """Each has the common files; a cloud's own mechanism (Azure's metric_seed.py) may add one."""
    files = _cloud_files()
    missing = {name: sorted(set(CLOUD_FILES) - set(listed)) for name, listed in files.items()}
    assert {name: names for name, names in missing.items() if names} == {}


def test_every_cloud_folder_exports_its_driver() -> None:
    missing = [
        folder.name for folder in _cloud_folders() if "DRIVER" not in _assigned(folder / "__init__.py")
    ]
    assert missing == []


#: What each cloud file defines, `{Cloud}` standing for Aws, Gcp or Azure: the same shape per cloud, so
#: a reader of one cloud's folder knows where everything of another's is.
CLOUD_EXPORTS = {
    "resolve.py": ("resolve", "{Cloud}Plan", "{Cloud}Fleet"),
    "status.py": ("read_status", "{Cloud}Clients"),
    "observer.py": ("observer", "{Cloud}Observer"),
}


def test_every_cloud_folder_defines_the_same_exports() -> None:
    missing = {
        f"{folder.name}/{file}": sorted(wanted - _defined(folder / file))
        for folder in _cloud_folders()
        for file, names in CLOUD_EXPORTS.items()
        if (wanted := {name.format(Cloud=folder.name.capitalize()) for name in names})
        - _defined(folder / file)
    }
    assert missing == {}


def _defined(path: Path) -> set[str]:
    """Functions and classes a module defines at its top level."""
    nodes = ast.parse(path.read_text()).body
    return {node.name for node in nodes if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def _assigned(path: Path) -> set[str]:
    """Names a module assigns at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


PROBE = """
import json, sys
from llmdeploy.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["validate", "dev", "prod", "--env-dir", "environments"])
assert result.exit_code == 0, result.output
CliRunner().invoke(app, ["explain", "prod", "--env-dir", "environments"])
forbidden = ("cdktn", "constructs", "jsii", "cdktn_provider_aws", "modules", "stacks")
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in forbidden)))
"""


@pytest.mark.process
def test_core_never_imports_cdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **EXAMPLE_VARIABLES},
        check=True,
    )
    assert json.loads(result.stdout) == []
