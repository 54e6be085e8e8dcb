"""Fuzzing the readers: structure-aware mutations of valid files, fed to Kindred's own parsers.

Every reader of outside data gets valid seeds mutated with hypothesis (fixed seed, no shrinking):
- GGUF headers (`read_gguf`): the count and length fields (tensor and key counts, string lengths,
  array counts, dimensions) set to lies (0, 2^32-1, 10^12, 2^63...), types swapped, bytes flipped,
  cut short or padded;
- safetensors (`read_safetensors`): header JSON rewritten (dtypes, shapes, offsets, huge
  numbers), the header length field lying, bytes flipped, truncation;
- `adapter_config.json` (`read_config`): any value replaced by any JSON, keys dropped;
- assistant bundles (`import_bundle`): a JSON member's values replaced by any JSON and the bundle
  re-hashed as a careful forger would, or its tar bytes damaged;
- training progress lines (`parse_line`, then what the CLI prints of them).

A case passes when the reader returns or raises Kindred's clear error (KindredError). Anything
else is a crash; a case over 2 s is a hang (a case stuck for 10 s is interrupted). Prints
`cases`, `crashes`, `hangs`, `max_rss_mb` (peak resident memory of this process: a header that
lies about its size must be refused before anything that size is allocated) and the first
crashes with their inputs' kind and message. Targets (issue 12): >= 20,000 cases, 0 crashes,
0 hangs.

    python bench/fuzz.py --json [--cases N] [--seed S] [--only gguf,bundle,...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import signal
import struct
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from kindred.core.basics.errors import KindredError

HANG_S = 2.0
STUCK_S = 10
KINDS = ("gguf", "safetensors", "config", "bundle", "progress")
U64_LIES = [0, 1, 2, 255, 2**31 - 1, 2**32 - 1, 2**32, 10**12, 2**62, 2**63 - 1, 2**64 - 1]
U32_LIES = [0, 1, 7, 8, 9, 12, 13, 99, 2**31 - 1, 2**32 - 1]


# -- seeds ------------------------------------------------------------------------------------


@dataclass
class GGUFSeed:
    data: bytes
    u64: list[int] = field(default_factory=list)  # offsets of count/length fields
    u32: list[int] = field(default_factory=list)  # offsets of type/version/dims fields


def gguf_seed() -> GGUFSeed:
    """A small llama.cpp LoRA adapter GGUF, written field by field so each field's offset is
    known (the mutations lie in exactly those fields)."""
    out = io.BytesIO()
    seed_ = GGUFSeed(b"")

    def u32(v: int, track: bool = True) -> None:
        if track:
            seed_.u32.append(out.tell())
        out.write(struct.pack("<I", v))

    def u64(v: int) -> None:
        seed_.u64.append(out.tell())
        out.write(struct.pack("<Q", v))

    def string(s: str) -> None:
        raw = s.encode()
        u64(len(raw))
        out.write(raw)

    def kv(key: str, kind: int, write: Callable[[], object]) -> None:
        string(key)
        u32(kind)
        write()

    tensors = [("blk.0.attn_q.weight.lora_a", (8, 2)), ("blk.0.attn_q.weight.lora_b", (2, 8))]
    out.write(b"GGUF")
    u32(3)
    u64(len(tensors))
    u64(8)
    kv("general.architecture", 8, lambda: string("llama"))
    kv("general.type", 8, lambda: string("adapter"))
    kv("adapter.type", 8, lambda: string("lora"))
    kv("adapter.lora.alpha", 6, lambda: out.write(struct.pack("<f", 8.0)))
    kv("general.alignment", 4, lambda: u32(32, track=False))

    def small_strings() -> None:
        u32(8)
        u64(3)
        for s in ("a", "bb", "ccc"):
            string(s)

    def big_ints() -> None:  # > 64 items: the reader's skip path
        u32(4)
        u64(100)
        out.write(struct.pack("<100I", *range(100)))

    def big_strings() -> None:
        u32(8)
        u64(70)
        for i in range(70):
            string(f"tok{i}")

    kv("tokenizer.small", 9, small_strings)
    kv("tokenizer.ints", 9, big_ints)
    kv("tokenizer.tokens", 9, big_strings)
    offset = 0
    for name, shape in tensors:
        string(name)
        u32(len(shape))
        for dim in shape:
            u64(dim)
        u32(0)  # F32
        u64(offset)
        offset += 4 * shape[0] * shape[1]
    out.write(b"\0" * (-out.tell() % 32))
    out.write(b"\1" * offset)
    seed_.data = out.getvalue()
    return seed_


def safetensors_seed() -> tuple[dict[str, Any], bytes]:
    header = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight":
              {"dtype": "F32", "shape": [2, 8], "data_offsets": [0, 64]},
              "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight":
              {"dtype": "F16", "shape": [8, 2], "data_offsets": [64, 96]},
              "__metadata__": {"format": "pt"}}
    return header, bytes(96)


def pack_safetensors(header: Any, data: bytes, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


CONFIG_SEED = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"],
               "task_type": "CAUSAL_LM", "bias": "none", "lora_dropout": 0.0,
               "base_model_name_or_path": "SmolLM2"}
PROGRESS_SEED = [
    {"event": "start", "run": "r", "examples": 3, "heldout": 0, "resumed_from": None},
    {"event": "loaded", "cached": True, "load_s": 1.5, "rss_mb": 900},
    {"event": "eval", "when": "start", "train_loss": 2.5, "heldout_loss": None},
    {"event": "step", "step": 1, "total_steps": 8, "loss": 2.1, "lr": 0.001, "tokens": 40,
     "tokens_per_s": 100.0, "eta_s": 12.0, "elapsed_s": 1.0, "cpu_s": 2.0},
    {"event": "checkpoint", "step": 2, "path": "checkpoint-2"},
    {"event": "archived", "version": "a" * 64},
    {"event": "done", "version": "a" * 64, "metrics": {"loss": 1.0}},
]


def bundle_seed(root: Path) -> tuple[Any, dict[str, bytes]]:
    """A home with an assistant, a conversation and learning data, exported; returns the
    (open) session to import into and the bundle's members."""
    from kindred.core.bundles.bundle import export_bundle
    from kindred.core.chat.conversations import add_message, create_conversation
    from kindred.core.learning import feedback
    from kindred.core.session import open_session

    session = open_session(root / "home")
    aid = session.assistant().id
    conv = create_conversation(session.store, aid)
    add_message(session.store, conv.id, "user", "Hello")
    answer = add_message(session.store, conv.id, "assistant", "Hi!")
    feedback.rate(session.store, answer.id, 1)
    feedback.correct(session.store, answer.id, "Hello! How can I help?")
    feedback.add_preference(session.store, aid, "Keep answers short.")
    path = root / "seed.bundle"
    export_bundle(session.store, session.assistant(), path)
    with tarfile.open(path) as tar:
        members = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            members[member.name] = handle.read()
    return session, members


def pack_bundle(members: dict[str, bytes], rehash: bool) -> bytes:
    from kindred.core.basics.hashing import sha256_bytes

    if rehash:
        header = json.loads(members["bundle.json"])
        if isinstance(header, dict):
            header["files"] = {n: {"sha256": sha256_bytes(d), "size": len(d)}
                               for n, d in members.items() if n != "bundle.json"}
            members = {**members, "bundle.json": json.dumps(header).encode()}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# -- mutations --------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 2**31, 2**63, 10**12, 40.5, 1e308, float("nan"),
                       float("inf")])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40) | st.sampled_from(["abc", "\x00", "\x1b[31m", "F32", "BF16", "I8",
                                                "x" * 5000, "../../etc", "LORA"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


def mutate_json(data: st.DataObject, doc: Any) -> Any:
    """Replace, drop or retype one value somewhere in `doc` (a deep copy is changed)."""
    doc = json.loads(json.dumps(doc))
    if not isinstance(doc, dict | list) or not doc:
        return data.draw(JSON_VALUES)
    parent: Any = doc
    while True:
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        key = data.draw(st.sampled_from(keys))
        child = parent[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            parent = child
            continue
        action = data.draw(st.sampled_from(["replace", "replace", "drop", "wrap"]))
        if action == "drop":
            del parent[key]
        elif action == "wrap":
            parent[key] = [child]
        else:
            parent[key] = data.draw(JSON_VALUES)
        return doc


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        if not out:
            break
        pos = data.draw(st.integers(0, len(out) - 1))
        if action == "flip":
            out[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del out[pos:]
        elif action == "insert":
            out[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            out[pos:pos + 8] = bytes(len(out[pos:pos + 8]))
    return bytes(out)


def mutate_gguf(data: st.DataObject, base: GGUFSeed) -> bytes:
    raw = bytearray(base.data)
    for _ in range(data.draw(st.integers(1, 2))):
        if data.draw(st.booleans()):
            pos = data.draw(st.sampled_from(base.u64))
            value = data.draw(st.sampled_from(U64_LIES) | st.integers(0, 2**64 - 1))
            raw[pos:pos + 8] = struct.pack("<Q", value)
        else:
            pos = data.draw(st.sampled_from(base.u32))
            value = data.draw(st.sampled_from(U32_LIES) | st.integers(0, 2**32 - 1))
            raw[pos:pos + 4] = struct.pack("<I", value)
    if data.draw(st.integers(0, 3)) == 0:
        return mutate_bytes(data, bytes(raw))
    return bytes(raw)


# -- the campaign -----------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)


class Stuck(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Stuck


def run_case(tally: Tally, kind: str, target: Callable[[], Any], sample: bytes) -> None:
    tally.cases += 1
    tally.by_kind[kind] = tally.by_kind.get(kind, 0) + 1
    start = time.perf_counter()
    signal.alarm(STUCK_S)
    try:
        target()
    except KindredError:
        pass
    except Stuck:
        tally.hangs += 1
        _remember(tally, kind, "stuck", sample)
    except Exception as exc:  # the point: anything that is not Kindred's clear error
        tally.crashes += 1
        where = traceback.extract_tb(exc.__traceback__)[-1]
        _remember(tally, kind, f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:"
                  f"{where.lineno})", sample)
    finally:
        signal.alarm(0)
    if time.perf_counter() - start > HANG_S:
        tally.hangs += 1
        _remember(tally, kind, "over 2 s", sample)


def _remember(tally: Tally, kind: str, what: str, sample: bytes) -> None:
    if len(tally.examples) < 10:
        tally.examples.append({"kind": kind, "error": what[:300], "input": sample[:200].hex()})


def campaign(cases: int, seed_value: int, only: tuple[str, ...] = KINDS,
             work: Path | None = None) -> dict[str, Any]:
    """Run about `cases` cases spread over the readers in `only`; returns the figures."""
    from kindred.cli.run_follow import _show
    from kindred.core.bundles.bundle import import_bundle
    from kindred.core.formats.gguf_info import read_gguf
    from kindred.core.formats.peft_files import read_config, read_safetensors
    from kindred.core.training.runner import parse_line

    previous = signal.signal(signal.SIGALRM, _alarm)
    tally = Tally()
    with contextlib.ExitStack() as stack:
        root = work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kfuzz-")))
        gguf = gguf_seed()
        st_header, st_data = safetensors_seed()
        session = members = None
        if "bundle" in only:
            session, members = bundle_seed(root)
            stack.callback(session.close)
        file = root / "case.bin"
        per_kind = max(1, cases // len(only))

        def gguf_case(data: st.DataObject) -> None:
            raw = mutate_gguf(data, gguf)
            file.write_bytes(raw)
            run_case(tally, "gguf", lambda: read_gguf(file), raw)

        def safetensors_case(data: st.DataObject) -> None:
            choice = data.draw(st.integers(0, 3))
            if choice == 0:
                raw = pack_safetensors(st_header, st_data,
                                       data.draw(st.sampled_from(U64_LIES)))
            elif choice == 1:
                raw = mutate_bytes(data, pack_safetensors(st_header, st_data))
            else:
                raw = pack_safetensors(mutate_json(data, st_header), st_data)
            file.write_bytes(raw)
            run_case(tally, "safetensors", lambda: read_safetensors(file), raw)

        def config_case(data: st.DataObject) -> None:
            text = json.dumps(mutate_json(data, CONFIG_SEED)).encode()
            raw = mutate_bytes(data, text) if data.draw(st.integers(0, 4)) == 0 else text
            cfg = root / "adapter_config.json"
            cfg.write_bytes(raw)
            run_case(tally, "config", lambda: read_config(cfg), raw)

        def bundle_case(data: st.DataObject) -> None:
            assert members is not None and session is not None
            if data.draw(st.integers(0, 4)) == 0:
                raw = mutate_bytes(data, pack_bundle(members, rehash=False))
            else:
                name = data.draw(st.sampled_from(sorted(members)))
                changed = dict(members)
                try:
                    doc = json.loads(members[name])
                    changed[name] = json.dumps(mutate_json(data, doc)).encode()
                except ValueError:
                    changed[name] = mutate_bytes(data, members[name])
                raw = pack_bundle(changed, rehash=True)
            path = root / "case.bundle"
            path.write_bytes(raw)
            run_case(tally, "bundle", lambda: import_bundle(session.store, path), raw)

        def progress_case(data: st.DataObject) -> None:
            event = data.draw(st.sampled_from(PROGRESS_SEED))
            raw = json.dumps(mutate_json(data, event), allow_nan=True).encode()
            if data.draw(st.integers(0, 4)) == 0:
                raw = mutate_bytes(data, raw)

            def read() -> None:
                parsed = parse_line(raw)
                if parsed is not None:
                    with contextlib.redirect_stderr(io.StringIO()):
                        _show(parsed)

            run_case(tally, "progress", read, raw)

        targets = {"gguf": gguf_case, "safetensors": safetensors_case, "config": config_case,
                   "bundle": bundle_case, "progress": progress_case}
        for offset, kind in enumerate(only):
            runner = settings(max_examples=per_kind, database=None, deadline=None,
                              phases=[Phase.generate], derandomize=False,
                              suppress_health_check=list(HealthCheck))(
                given(st.data())(targets[kind]))
            seed(seed_value + offset)(runner)()
    signal.signal(signal.SIGALRM, previous)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"cases": tally.cases, "crashes": tally.crashes, "hangs": tally.hangs,
            "max_rss_mb": round(rss / 1024 if sys.platform != "darwin" else rss / 2**20, 1),
            "by_kind": tally.by_kind, "seed": seed_value, "examples": tally.examples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--only", default=",".join(KINDS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    only = tuple(k for k in args.only.split(",") if k)
    started = time.perf_counter()
    result = campaign(args.cases, args.seed, only)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['cases']} cases, {result['crashes']} crashes, {result['hangs']} hangs, "
              f"peak {result['max_rss_mb']} MB, {result['seconds']} s")
        for example in result["examples"]:
            print(f"  {example['kind']}: {example['error']}")
    return 1 if result["crashes"] or result["hangs"] else 0


if __name__ == "__main__":
    os.environ.setdefault("KINDRED_HOME", tempfile.mkdtemp(prefix="kfuzz-home-"))
    sys.exit(main())
