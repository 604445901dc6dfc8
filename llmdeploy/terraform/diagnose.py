"""Turn a failed Terraform command into one readable paragraph: stack, cause, next step.

The cause is Terraform's own text (its `-json` diagnostics, else its stderr), trimmed
and flattened, because Terraform's wording is what people search for. The next step
depends on which of a few well-known failures this is; anything else gets a generic
"fix the cause and run again".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.errors import OperationError
from llmdeploy.terraform.messages import Diagnostic

#: Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130

MAX_DIAGNOSTICS = 3
MAX_CAUSE_CHARS = 600

_BOX_DRAWING = re.compile(r"[╷│╵]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes, in case -no-color was not honoured
_WHITESPACE = re.compile(r"\s+")
# Terraform's lock error ends by suggesting -lock=false, which is the wrong advice here.
_LOCK_BOILERPLATE = re.compile(r"Terraform acquires a state lock.*?not recommended\.", re.S)

_CREDENTIAL_MARKERS = (
    "no valid credential sources",
    "failed to refresh cached credentials",
    "could not find default credentials",  # google
    "please run 'az login'",  # azurerm
    "invalidclienttokenid",
    "unrecognizedclientexception",
)
_PROVIDER_MARKERS = (
    "failed to query available provider packages",
    "failed to install provider",
    "could not retrieve the list of available versions",
    "incompatible provider version",
    "required plugins are not installed",
    "inconsistent dependency lock file",
    "failed to resolve provider packages",
)


@dataclass(frozen=True)
class Recovery:
    """The llmdeploy commands, with the user's own flags, that continue or repair one stack.

    `unlock` and `migrate` are full command lines; `unlock` ends with the lock ID.
    """

    rerun: str
    unlock: str
    migrate: str


@dataclass(frozen=True)
class Failure:
    """What is known about one failed command."""

    stack: str
    stack_dir: Path
    command: str
    binary: str
    returncode: int
    errors: tuple[Diagnostic, ...] = ()
    stderr: str = ""
    started: int = 0
    completed: int = 0
    mirror: Path | None = None
    recovery: Recovery | None = None

    @property
    def rerun(self) -> str:
        """How to run the failed command again: the llmdeploy command line when known."""
        return f"`{self.recovery.rerun}`" if self.recovery is not None else self.command


class Interrupted(OperationError):
    """Terraform stopped early because llmdeploy was interrupted (Ctrl-C, SIGTERM).

    `what` says what happened; the message adds `next_step`, the command that continues.
    """

    exit_code = INTERRUPTED_EXIT

    def __init__(self, what: str, next_step: str) -> None:
        self.what = what
        super().__init__(f"{what} {next_step}")


class UnpublishedMetric(OperationError):
    """The cloud refused a rule on a custom metric it does not know yet: nothing has published it.

    Its own type, so that an apply can have the cloud's driver publish a first value and apply again
    (`llmdeploy.deploy`); `failure` is what Terraform reported.
    """

    def __init__(self, message: str, failure: Failure) -> None:
        super().__init__(message)
        self.failure = failure


def interrupted(failure: Failure) -> Interrupted:
    """The error of a run interrupted while Terraform ran `failure.command`."""
    verb = "start again" if failure.started == 0 else "finish"
    return Interrupted(_interrupted(failure), f"Run {failure.rerun} to {verb}.")


def _interrupted(failure: Failure) -> str:
    where = f"`{failure.binary} {failure.command}` of stack '{failure.stack}'"
    if failure.started == 0:
        return f"Interrupted: {where} stopped before changing anything."
    return (
        f"Interrupted: {where} stopped gracefully after {failure.completed} of the {failure.started} "
        "resource operations it began had finished, and Terraform saved the state (an operation cut short is "
        "recorded as tainted and replaced next time)."
    )


def explain(failure: Failure) -> OperationError:
    """The OperationError for `failure`, as one paragraph without a traceback."""
    cause = _cause(failure)
    lowered = cause.lower()
    if _is_lock(failure, lowered):
        return _error(failure, _lock_cause(cause), _lock_advice(failure, cause))
    if _is_unpublished_metric(failure, lowered):
        refused = _error(failure, cause, _unpublished_metric_advice(failure, cause))
        return UnpublishedMetric(str(refused), failure)
    for matches, advice in _RULES:
        if matches(failure, lowered):
            return _error(failure, cause, advice(failure, cause))
    return _error(failure, cause, _generic(failure))


def binary_missing(stack: str, binary: str, command: str) -> OperationError:
    return OperationError(
        f"Cannot run `{binary} {command}` for stack '{stack}': the Terraform binary "
        f"'{binary}' was not found on PATH. Install Terraform >= 1.10 (or OpenTofu) "
        "or set LLMDEPLOY_TERRAFORM_BINARY to the binary's name or full path."
    )


def _error(failure: Failure, cause: str, advice: str) -> OperationError:
    return OperationError(
        f"`{failure.binary} {failure.command}` failed for stack '{failure.stack}' "
        f"({failure.stack_dir}): {cause.rstrip('.')}. {advice}"
    )


def flatten(text: str) -> str:
    """Terraform's multi-line, box-drawn text as one line."""
    text = _LOCK_BOILERPLATE.sub(" ", _ANSI.sub("", text))
    return _WHITESPACE.sub(" ", _BOX_DRAWING.sub(" ", text)).strip()


def _cause(failure: Failure) -> str:
    if failure.errors:
        shown = [flatten(d.text()) for d in failure.errors[:MAX_DIAGNOSTICS]]
        hidden = len(failure.errors) - len(shown)
        cause = "; ".join(shown) + (f" (and {hidden} more errors)" if hidden else "")
    else:
        cause = _stderr_errors(failure.stderr) or f"it exited with code {failure.returncode}"
    return _clip(cause)


def _stderr_errors(stderr: str) -> str:
    """Terraform's "Error: ..." blocks from plain stderr, warnings dropped."""
    flat = flatten(stderr)
    start = flat.find("Error:")
    return flat[start:] if start >= 0 else flat


def _clip(text: str) -> str:
    if len(text) <= MAX_CAUSE_CHARS:
        return text
    return text[: MAX_CAUSE_CHARS - 1].rstrip() + "…"


def _lock_field(cause: str, name: str) -> str:
    """One field of Terraform's "Lock Info:" block (ID, Who, Operation, Created...)."""
    match = re.search(rf"\b{name}:\s+(.+?)(?=\s+[A-Z][a-z]+:(?:\s|$)|$)", cause)
    return match.group(1).strip() if match else ""


def _lock_cause(cause: str) -> str:
    """The lock error without its Lock Info block, which the advice restates."""
    head = cause.split(" Lock Info:")[0]
    return head.replace("Error message: ", "")


def _is_lock(failure: Failure, cause: str) -> bool:
    return "error acquiring the state lock" in cause


def _lock_advice(failure: Failure, cause: str) -> str:
    lock_id = _lock_field(cause, "ID") or "<LOCK_ID>"
    facts = [f"lock ID {lock_id}"]
    facts += [f"held by {who}" for who in [_lock_field(cause, "Who")] if who]
    facts += [f"since {since}" for since in [_lock_field(cause, "Created")] if since]
    facts += [f"for {op}" for op in [_lock_field(cause, "Operation")] if op]
    return (
        f"Another run holds the lock on this stack's state ({', '.join(facts)}). Wait for it to "
        f"finish and run {failure.rerun} again; only if you are sure no run is "
        f"active, release it with {_unlock(failure, lock_id)}."
    )


def _unlock(failure: Failure, lock_id: str) -> str:
    if failure.recovery is not None:
        return f"`{failure.recovery.unlock} {lock_id}`"
    return f"`{failure.binary} force-unlock {lock_id}` in {failure.stack_dir}, with the same TF_DATA_DIR"


def _is_credentials(failure: Failure, cause: str) -> bool:
    return any(marker in cause for marker in _CREDENTIAL_MARKERS)


def _credentials_advice(failure: Failure, cause: str) -> str:
    return (
        "Terraform found no usable cloud credentials. Log in to the cloud (for AWS set "
        "AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for GCP run "
        "`gcloud auth application-default login`; for Azure run `az login`), or, to "
        "work against the local emulator, start it with `llmdeploy local up`, then "
        f"run {failure.rerun} again."
    )


def _is_backend_change(failure: Failure, cause: str) -> bool:
    return "backend configuration changed" in cause or "backend initialization required" in cause


def _backend_change_advice(failure: Failure, cause: str) -> str:
    migrate = f"`{failure.recovery.migrate}`" if failure.recovery else "`terraform init -migrate-state`"
    return (
        "The stack's state settings (`state:` in the environment file) are not the ones its Terraform "
        "data was set up with, so Terraform would no longer see the resources it created. To move the "
        f"state to the new settings, run {migrate} (it asks first); to keep the old place, undo the "
        "change to `state:`."
    )


def _is_provider(failure: Failure, cause: str) -> bool:
    return any(marker in cause for marker in _PROVIDER_MARKERS)


def _provider_advice(failure: Failure, cause: str) -> str:
    if failure.mirror is not None:
        where = (
            f"Providers are installed from the local mirror {failure.mirror}: check "
            "that it holds the provider versions the stack requires, or set "
            "LLMDEPLOY_PROVIDER_MIRROR to a mirror that does"
        )
    else:
        where = (
            "No local provider mirror was found, so Terraform needs to reach "
            "registry.terraform.io: check network access, or set "
            "LLMDEPLOY_PROVIDER_MIRROR to a folder holding the providers"
        )
    return f"Terraform could not install a provider. {where}; then run {failure.rerun} again."


def _is_partial(failure: Failure, cause: str) -> bool:
    """Failed after changing something: before that, a failed apply is like a failed plan."""
    return failure.command in ("apply", "destroy") and failure.started > 0


def _partial_advice(failure: Failure, cause: str) -> str:
    plural = "s" if failure.completed != 1 else ""
    done = f" ({failure.completed} resource operation{plural} finished first)" if failure.completed else ""
    if failure.command == "destroy":
        return f"The state keeps what is left{done}; fix the cause and run {failure.rerun} again to finish."
    return f"The state keeps what was created{done}; fix the cause and run {failure.rerun} again to continue."


def _is_unpublished_metric(failure: Failure, cause: str) -> bool:
    """Azure refuses a scale set autoscale rule on a custom metric nothing has published yet.

    It checks the metric's metadata when the setting is created ("for custom metrics ... we are
    validating the metric metadata does exist", MicrosoftDocs/azure-docs#16061; error code
    UnsupportedMetric, Azure/azure-cli#25986), again on every update (Azure/azure-cli#13908), and
    azurerm's `metric_trigger` has no option to skip the check (monitor_autoscale_setting_resource.go).
    """
    return "unsupportedmetric" in cause


def _unpublished_metric_advice(failure: Failure, cause: str) -> str:
    return (
        "Azure creates an autoscale rule on a custom metric (the engines' queue size) only once something "
        "has published that metric on the scale set, and a scale set at zero VMs never does. `llmdeploy "
        "apply` publishes one neutral value itself (between the scale-in and scale-out thresholds), waits "
        "for Azure to list the metric and applies again; this message means it could not. The state keeps "
        "what was created: check that the identity you deploy with holds 'Monitoring Metrics Publisher' on "
        f"the scale sets (the stack grants it), then run {failure.rerun} again."
    )


def _generic(failure: Failure) -> str:
    return (
        f"Fix the cause above (the stack's files are in {failure.stack_dir}) and run {failure.rerun} again."
    )


_Rule = tuple[Callable[[Failure, str], bool], Callable[[Failure, str], str]]

# Most specific first: a credential failure during apply is about credentials, not
# about a half-done apply. (Lock failures are handled before these: they rewrite the
# cause too.)
_RULES: tuple[_Rule, ...] = (
    (_is_credentials, _credentials_advice),
    (_is_backend_change, _backend_change_advice),
    (_is_provider, _provider_advice),
    (_is_partial, _partial_advice),
)
