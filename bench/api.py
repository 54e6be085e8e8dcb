"""Kindred's local API against llama-cpp-python's own OpenAI server, in the same run.

Both servers run as their own processes on the embedded GGUF with the same LoRA (a real adapter
shaped for the model, archived and activated in a scratch data home; `--lora_path` for
`python -m llama_cpp.server`), the same context and the same llama.cpp threads, and are measured
with the same client (the official `openai` package, streamed, greedy, the same prompt with
Kindred's system prompt sent to the baseline, repeat penalty 1.1 on both). Runs alternate
between the servers so both see the same load. Prints one JSON line with --json:

- decode_ratio: Kindred's decode tok/s / the baseline's (median of per-round ratios; >= 0.95)
- ttft_ratio: time to the first token, Kindred / baseline (median; <= 1.1)
- concurrent_tok_s_kindred / _baseline: aggregate tokens/s of 4 streaming clients at once
  (Kindred answers them one after the other on one engine; llama_cpp.server the same, it
  holds one lock around its model), and their ratio (median of alternating rounds)
- the medians behind each ratio, the load average before and after, the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # support: a real adapter shaped for the model

import openai  # noqa: E402

from kindred.api import settings  # noqa: E402
from kindred.core.archive import objects as archive  # noqa: E402
from kindred.core.archive.catalog import verified_path  # noqa: E402
from kindred.core.home.models import embedded_model_path  # noqa: E402
from kindred.core.learning.feedback import system_prompt  # noqa: E402
from kindred.core.session import open_session  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper."
N_CTX = 4096
THREADS = max(1, min(os.cpu_count() or 1, 8))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path) -> tuple[Path, str, str]:
    """An activated version in a scratch home: its adapter.gguf, the system prompt, the key."""
    from support.archive_helpers import activate, lora_config
    from support.lora import peft_tensors

    session = open_session(home)
    try:
        model = embedded_model_path()
        tensors = peft_tensors(model, rank=8, layers=tuple(range(9, 30)), magnitude=0.02)
        version = archive.archive_peft(session.store, session.assistant(), tensors,
                                       lora_config(8))
        activate(session, version)
        assistant = session.assistant()
        return (verified_path(session.store, version.id),
                system_prompt(session.store, assistant), settings.load(home).key)
    finally:
        session.close()


def wait_ready(url: str, key: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait for the port, then ask once with a long timeout: a request given up on while the
    server is busy would stay queued in llama_cpp.server and interrupt the next stream there
    (it stops a stream whenever another request waits for the model)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited early ({proc.args!r})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        raise SystemExit(f"a server did not start in {timeout} s ({proc.args!r})")
    openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=timeout).models.list()


def stream_once(client: openai.OpenAI, model: str, messages: list[dict[str, str]],
                max_tokens: int, extra: dict[str, Any]) -> dict[str, float]:
    start = time.perf_counter()
    first = last = None
    count = 0
    sent: Any = messages  # plain dicts, as any client sends them
    stream: Any = client.chat.completions.create(model=model, messages=sent,
                                                 max_tokens=max_tokens, temperature=0.0,
                                                 stream=True, extra_body=extra or None)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
    if first is None or last is None or count <= 10:
        raise SystemExit(f"{model}: too little text ({count} pieces)")
    return {"ttft_s": first - start, "tok_s": (count - 1) / max(last - first, 1e-9),
            "tokens": count}


def concurrent(client_for: Any, model: str, messages: list[dict[str, str]], max_tokens: int,
               extra: dict[str, Any], clients: int = 4) -> float:
    """Aggregate tokens/s of `clients` streaming at once."""
    counts: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            counts.append(int(stream_once(client_for(), model, messages, max_tokens,
                                          extra)["tokens"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--concurrent-runs", type=int, default=3,
                        help="alternating rounds of 4 clients at once (default 3)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop both servers on the way out
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kindred-bench-api-") as tmp:
        home = Path(tmp) / "home"
        lora, system, key = prepare(home)
        model = embedded_model_path()
        kport, lport = free_port(), free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs = [
            subprocess.Popen([sys.executable, "-m", "kindred", "serve", "--home", str(home),
                              "--port", str(kport), "--threads", str(args.threads)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                              "--lora_path", str(lora), "--n_ctx", str(N_CTX),
                              "--n_threads", str(args.threads), "--n_threads_batch",
                              str(args.threads), "--host", "127.0.0.1", "--port", str(lport),
                              "--api_key", key, "--verbose", "False",
                              # queue concurrent requests as Kindred does, instead of cutting
                              # the stream being written when another one arrives
                              "--interrupt_requests", "False"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            kurl, lurl = f"http://127.0.0.1:{kport}/v1", f"http://127.0.0.1:{lport}/v1"
            wait_ready(kurl, key, procs[0])
            wait_ready(lurl, key, procs[1])
            sides = {
                "kindred": (kurl, "kindred/Kindred", [{"role": "user", "content": PROMPT}], {}),
                "baseline": (lurl, str(model), [{"role": "system", "content": system},
                                                {"role": "user", "content": PROMPT}],
                             {"repeat_penalty": 1.1, "top_k": 40}),
            }

            def client(url: str) -> openai.OpenAI:
                return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)

            for url, name, messages, extra in sides.values():  # warm both up once
                stream_once(client(url), name, messages, args.max_tokens, extra)
            rounds: list[dict[str, dict[str, float]]] = []
            for _ in range(args.runs):
                rounds.append({side: stream_once(client(url), name, messages,
                                                 args.max_tokens, extra)
                               for side, (url, name, messages, extra) in sides.items()})
            together: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.concurrent_runs):  # alternating too
                for side, (url, name, messages, extra) in sides.items():
                    together[side].append(concurrent(lambda u=url: client(u), name, messages,
                                                     args.max_tokens, extra))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def median(side: str, key_: str) -> float:
        return statistics.median(r[side][key_] for r in rounds)

    result = {
        "decode_ratio": round(statistics.median(
            r["kindred"]["tok_s"] / r["baseline"]["tok_s"] for r in rounds), 3),
        "ttft_ratio": round(statistics.median(
            r["kindred"]["ttft_s"] / r["baseline"]["ttft_s"] for r in rounds), 3),
        "tok_s_kindred": round(median("kindred", "tok_s"), 1),
        "tok_s_baseline": round(median("baseline", "tok_s"), 1),
        "ttft_ms_kindred": round(1000 * median("kindred", "ttft_s"), 1),
        "ttft_ms_baseline": round(1000 * median("baseline", "ttft_s"), 1),
        "tokens_kindred": median("kindred", "tokens"),
        "tokens_baseline": median("baseline", "tokens"),
        "concurrent_tok_s_kindred": round(statistics.median(together["kindred"]), 1),
        "concurrent_tok_s_baseline": round(statistics.median(together["baseline"]), 1),
        "concurrent_ratio": round(statistics.median(
            k / b for k, b in zip(together["kindred"], together["baseline"], strict=True)), 3),
        "runs": args.runs, "max_tokens": args.max_tokens, "threads": args.threads,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
