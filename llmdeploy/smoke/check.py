"""One endpoint's serving proof: it lists the configured model and streams a chat completion.

Speaks the OpenAI-compatible API that TGI, vLLM and SGLang all serve: `GET /v1/models` (the ids in
`data[].id`) and `POST /v1/chat/completions` with `stream: true`, answered as server-sent events
(`data: {json}` lines, `data: [DONE]` last). Reports the time to the first token and the decode
rate (tokens after the first, per second). The API key travels only in the Authorization header:
it never appears in a result, a message or a log.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llmdeploy.plan.routes import SLOT_HEADER

#: Short: the proof is that tokens arrive, not what they say; a handful is enough to time them.
PROMPT = "Reply with one short sentence about the sea."
MAX_TOKENS = 24
DEFAULT_TIMEOUT_S = 60.0
_EXCERPT_CHARS = 200
_HINTS = {
    401: "the API key was refused, or none was sent",
    403: "refused: the client address is not in access.allowed_cidrs, or the key is wrong",
    404: "no such route: is this the model's endpoint (with its /<model>/ prefix)?",
    429: "the engine is at max_concurrent_requests",
    502: "the proxy could not reach the engine",
    503: "no replica can answer (booting, draining, or scaled to zero)",
    504: "the engine did not answer in time",
}


@dataclass(frozen=True)
class SmokeResult:
    """What one endpoint did; `problem` says what failed, None when everything passed.

    Attributes:
        served: the model ids `/v1/models` listed (empty when it could not be read).
        ttft_s: seconds from sending the chat request to its first content token.
        tokens: completion tokens received (the engine's own count when it sends usage).
        tokens_per_s: tokens after the first, per second of streaming; None with fewer than two.
    """

    url: str
    model_id: str
    served: tuple[str, ...] = ()
    problem: str | None = None
    ttft_s: float | None = None
    tokens: int = 0
    tokens_per_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None


class _Failed(Exception):
    """A step failed; the message is the result's problem."""


def check_endpoint(
    url: str,
    model_id: str,
    key: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    slot: str | None = None,
) -> SmokeResult:
    """Check that `url` serves `model_id` and streams a chat completion; never raises for the endpoint.

    Args:
        url: the model's endpoint, where `/v1/...` is appended (e.g. `https://lb/chat/`).
        model_id: the id the engine must list (the configured `model_id`).
        key: the API key, sent as `Authorization: Bearer <key>`; None when the endpoint has none.
        timeout_s: the longest wait for any answer or stream chunk.
        slot: sent as the SLOT_HEADER, which the load balancers route to that slot alone.
    """
    base = url.rstrip("/")
    served: tuple[str, ...] = ()
    headers = _headers(key, slot)
    try:
        served = _served_models(base, headers, timeout_s)
        if model_id not in served:
            listed = ", ".join(served) or "no model"
            raise _Failed(f"wrong model: the endpoint serves {listed}, not the configured {model_id}")
        return _stream(url, model_id, headers, timeout_s, served)
    except _Failed as failed:
        return SmokeResult(url, model_id, served, str(failed))


def _headers(key: str | None, slot: str | None) -> dict[str, str]:
    """The headers every request carries: the key (when there is one) and the slot (when pinned)."""
    return {
        **({"Authorization": f"Bearer {key}"} if key else {}),
        **({SLOT_HEADER: slot} if slot else {}),
    }


def _served_models(base: str, headers: dict[str, str], timeout_s: float) -> tuple[str, ...]:
    body = _read_json(_open(_request(f"{base}/v1/models", headers), timeout_s).read(), f"{base}/v1/models")
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise _Failed(f"GET {base}/v1/models did not answer an OpenAI model list (no `data` list)")
    return tuple(str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry)


def _stream(
    endpoint: str, model_id: str, headers: dict[str, str], timeout_s: float, served: tuple[str, ...]
) -> SmokeResult:
    url = f"{endpoint.rstrip('/')}/v1/chat/completions"
    payload = {
        "model": model_id,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "stream": True,
        # Engines that honour it end the stream with their own token count.
        "stream_options": {"include_usage": True},
    }
    started = time.monotonic()
    response = _open(_request(url, headers, payload), timeout_s)
    kind = response.headers.get("Content-Type", "")
    if not kind.startswith("text/event-stream"):
        raise _Failed(f"POST {url} answered {kind or 'no content type'}, not a text/event-stream")
    try:
        with response:
            arrivals, usage = _tokens(response, url)
    except (OSError, http.client.HTTPException) as error:
        raise _Failed(f"POST {url}: the stream broke off: {error or type(error).__name__}") from None
    if not arrivals:
        raise _Failed(f"POST {url}: the stream ended without a single token")
    tokens = usage or len(arrivals)
    decoding = arrivals[-1] - arrivals[0]
    return SmokeResult(
        url=endpoint,
        model_id=model_id,
        served=served,
        ttft_s=arrivals[0] - started,
        tokens=tokens,
        tokens_per_s=(tokens - 1) / decoding if tokens > 1 and decoding > 0 else None,
    )


def _tokens(lines: Iterable[bytes], url: str) -> tuple[list[float], int]:
    """Arrival times of the chunks that carry content, and the engine's completion token count (or 0)."""
    arrivals: list[float] = []
    usage = 0
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            break
        chunk = _read_json(data.encode(), url)
        if not isinstance(chunk, dict):
            raise _Failed(f"POST {url}: a stream event is not a JSON object")
        if "error" in chunk:
            raise _Failed(f"POST {url}: the engine streamed an error: {_excerpt(json.dumps(chunk['error']))}")
        if any(_content(choice) for choice in chunk.get("choices") or []):
            arrivals.append(time.monotonic())
        usage = int((chunk.get("usage") or {}).get("completion_tokens") or usage)
    return arrivals, usage


def _content(choice: Any) -> bool:
    delta = choice.get("delta") if isinstance(choice, dict) else None
    return isinstance(delta, dict) and bool(delta.get("content"))


def _request(
    url: str, common: dict[str, str], payload: dict[str, Any] | None = None
) -> urllib.request.Request:
    headers = {"Accept": "text/event-stream" if payload else "application/json", **common}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    data = json.dumps(payload).encode() if payload is not None else None
    return urllib.request.Request(url, data=data, headers=headers, method="POST" if payload else "GET")


def _open(request: urllib.request.Request, timeout_s: float) -> Any:
    what = f"{request.get_method()} {request.full_url}"
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        hint = _HINTS.get(error.code)
        raise _Failed(
            f"{what} answered HTTP {error.code}{f' ({hint})' if hint else ''}: {_excerpt(error.read())}"
        ) from None
    except urllib.error.URLError as error:
        raise _Failed(f"{what} failed: {error.reason}") from None
    except OSError as error:
        raise _Failed(f"{what} failed: {error}") from None


def _read_json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _Failed(f"{url} answered something that is not JSON: {_excerpt(body)}") from None


def _excerpt(body: bytes | str) -> str:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "") or "(empty body)"
