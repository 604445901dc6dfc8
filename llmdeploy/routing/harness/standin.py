"""One engine stand-in: an OpenAI-compatible server (completions and chat, SSE streaming or not).

Run: python -m llmdeploy.routing.harness.standin --port 8001 --name r1 [--flavour vllm] [--time-scale 10]
SIGUSR1 is the drain notice: /health turns 503 (as the VM's proxy does when its drain flag is set) while
requests already admitted keep being served. Every response names the replica (header x-standin-id and
`system_fingerprint`) and reports cached prompt tokens in usage.prompt_tokens_details.cached_tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from llmdeploy.routing.harness.engine import Engine
from llmdeploy.routing.harness.metrics import FLAVOURS, render
from llmdeploy.routing.harness.timings import LLAMA31_8B_H100

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
_ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
_STATE: web.AppKey[dict[str, Any]] = web.AppKey("state", dict)


def tokens_of(text: str) -> list[str]:
    """The stand-in's tokenizer: whitespace-separated words."""
    return text.split()


def _chat_prompt(messages: list[dict[str, Any]]) -> str:
    return " ".join(f"<{m.get('role', 'user')}> {m.get('content', '')}" for m in messages)


def _usage(prompt: list[str], completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": len(prompt),
        "completion_tokens": completion,
        "total_tokens": len(prompt) + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _chunk(state: dict[str, Any], chat: bool, text: str, finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if chat:
        choice["delta"] = {"content": text}
    else:
        choice["text"] = text
    return {
        "id": f"cmpl-{state['name']}-{time.monotonic_ns()}",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "model": MODEL,
        "system_fingerprint": state["name"],
        "choices": [choice],
    }


async def _complete(request: web.Request, chat: bool) -> web.StreamResponse:
    state = request.app[_STATE]
    body = await request.json()
    raw = body.get("prompt", "")
    if chat:
        prompt = tokens_of(_chat_prompt(body.get("messages", [])))
    elif isinstance(raw, list):  # token ids, as the OpenAI completions API allows
        prompt = [str(token) for token in raw]
    else:
        prompt = tokens_of(str(raw))
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    tokens = request.app[_ENGINE].generate(prompt, max_tokens)
    headers = {"x-standin-id": state["name"]}
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await _stream(request, state, chat, prompt, tokens, headers, include_usage)
    words: list[str] = []
    cached = 0
    async for token, hit in tokens:
        words.append(token)
        cached = hit
    result = _chunk(state, chat, " ".join(words), "length")
    result["object"] = "chat.completion" if chat else "text_completion"
    if chat:
        result["choices"][0] = {
            "index": 0,
            "finish_reason": "length",
            "message": {"role": "assistant", "content": " ".join(words)},
        }
    result["usage"] = _usage(prompt, len(words), cached)
    return web.json_response(result, headers=headers)


async def _stream(
    request: web.Request,
    state: dict[str, Any],
    chat: bool,
    prompt: list[str],
    tokens: AsyncIterator[tuple[str, int]],
    headers: dict[str, str],
    include_usage: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    count = 0
    cached = 0
    async for token, hit in tokens:
        count += 1
        cached = hit
        await response.write(f"data: {json.dumps(_chunk(state, chat, ' ' + token, None))}\n\n".encode())
    last = _chunk(state, chat, "", "length")
    if include_usage:
        last["usage"] = _usage(prompt, count, cached)
    await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
    await response.write_eof()
    return response


async def _completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=False)


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=True)


async def _health(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    headers = {"x-standin-id": state["name"]}
    if state["draining"]:
        return web.Response(status=503, text="draining", headers=headers)
    return web.Response(text="ok", headers=headers)


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return web.Response(text=render(request.app[_ENGINE], state["flavour"], MODEL))


def build_app(name: str, flavour: str, time_scale: float) -> web.Application:
    """The stand-in's aiohttp application; its engine starts with the app."""
    app = web.Application()
    engine = Engine(LLAMA31_8B_H100.scaled(time_scale))
    app[_ENGINE] = engine
    app[_STATE] = {"name": name, "flavour": flavour, "draining": False}

    async def start_engine(_: web.Application) -> None:
        engine.start()

    app.on_startup.append(start_engine)
    app.router.add_post("/v1/completions", _completions)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/metrics", _metrics)
    for path in ("/health", "/health_generate"):
        app.router.add_get(path, _health)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An LLM engine stand-in on loopback.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--flavour", choices=FLAVOURS, default="vllm")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    app = build_app(args.name, args.flavour, args.time_scale)

    async def on_notice(_: web.Application) -> None:
        def drain() -> None:
            app[_STATE]["draining"] = True

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, drain)

    app.on_startup.append(on_notice)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
