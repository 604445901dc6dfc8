"""Judge a secret's value for the keys that name it, without ever showing the value.

The VMs use a secret's whole value (an hf_token becomes `HF_TOKEN=<value>`, an API key is
compared whole), so a key/value JSON secret (the AWS console's default) breaks both: gated
downloads answer 401 and no client authenticates.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from llmdeploy.catalog import Cloud
from llmdeploy.doctor.model import Check
from llmdeploy.doctor.needs import SecretUse


class SecretMissing(Exception):
    """The secret (or any version of it) does not exist; the message says where it was looked for."""


class SecretUnreadable(Exception):
    """The secret could not be read (no access, no connection); the message says why."""


def judge(cloud: Cloud, use: SecretUse, read: Callable[[], str]) -> Check:
    """Read the secret with `read` and say whether the keys that name it can use its value."""
    name = f"secret {use.name} ({', '.join(use.keys)})"
    try:
        value = read()
    except SecretMissing as missing:
        return Check(cloud, name, "fail", f"missing: {missing}. Create it with the plain value, then retry.")
    except SecretUnreadable as unreadable:
        return Check(cloud, name, "unknown", str(unreadable))
    problem = value_problem(value)
    if problem:
        return Check(cloud, name, "fail", f"{problem}; store only the plain token or key as its value")
    return Check(cloud, name, "ok", "present, a plain string")


def value_problem(value: str) -> str | None:
    """Why a secret's value cannot be used as a plain token or key; None when it can."""
    text = value.strip()
    if not text:
        return "it is empty"
    if text[0] in '{["':
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        kinds: dict[type, str] = {
            dict: "a JSON object (key/value pairs)",
            list: "a JSON list",
            str: "a quoted JSON string",
        }
        return f"it holds {kinds.get(type(parsed), 'JSON')}, not a plain string"
    return None
