"""The host agents' source as the boot bundle ships it: the modules a cloud needs, without docstrings,
comments and function annotations (ast.unparse), so the user data fits EC2's 16 KB and Azure's 64 KB.

The repository's llmdeploy/boot/agents/ stays the readable, tested original; the shipped form is the
same program (the agent tests run the shipped form).
"""

from __future__ import annotations

import ast
from importlib import resources

from llmdeploy.catalog import Cloud

#: Modules every VM runs, in llmdeploy_agents/, plus its own cloud's (and AWS's launch-hook agent).
AGENT_MODULES = (
    "__init__",
    "metadata",
    "notice",
    "secret_store",
    "hf_token",
    "api_keys",
    "gate",
    "drain",
    "spot_watcher",
    "metrics_relay",
)
CLOUD_MODULES: dict[Cloud, tuple[str, ...]] = {"aws": ("aws", "ready"), "gcp": ("gcp",), "azure": ("azure",)}


def _compacted(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = node.body[1:] or [ast.Pass()]
        # Every agent starts with `from __future__ import annotations`: annotations are never evaluated,
        # so a function's can go. A dataclass's field annotations (ast.AnnAssign) stay.
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        if isinstance(node, ast.arg):
            node.annotation = None
    return tree


def compact(source: str) -> str:
    """The same module without docstrings, comments and function annotations."""
    return ast.unparse(_compacted(ast.parse(source))) + "\n"


def agent_sources(cloud: Cloud) -> dict[str, str]:
    """`<module>.py` to its shipped source, for the VMs of `cloud`."""
    package = resources.files("llmdeploy.boot.agents")
    return {
        f"{name}.py": compact(package.joinpath(f"{name}.py").read_text("utf-8"))
        for name in (*AGENT_MODULES, *CLOUD_MODULES[cloud])
    }
