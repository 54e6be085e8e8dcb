"""Storage benchmark: what one archived version of the default adapter costs on disk.

The default adapter is rank 8 on all 7 modules of every layer of SmolLM2-135M (what training
produces). It is archived in a temporary data home in today's format (fp16, weights stored once,
GGUF derived into the cache) and, as the baseline in the same run, the way format 1 stored it
(fp32 safetensors + fp32 GGUF). Prints one JSON line with --json: mb_per_version (target <= 6),
mb_per_version_format_1, ratio, derived_gguf_mb (rebuildable cache), base_cache_mb (the training
cache of the base in this machine's default data home, if present).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import platformdirs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "core"))  # the format-1 writer lives in its test

from kindred.core.archive import objects as archive  # noqa: E402
from kindred.core.archive.derived import cache_path, folder_bytes  # noqa: E402
from kindred.core.formats.gguf_info import read_gguf  # noqa: E402
from kindred.core.home.models import embedded_model_path  # noqa: E402
from kindred.core.session import open_session  # noqa: E402

MODULES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
           "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
           "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def default_adapter(rank: int = 8) -> dict[str, np.ndarray]:
    info = read_gguf(embedded_model_path())
    rng = np.random.default_rng(0)
    out = {}
    for layer in range(info.arch_int("block_count") or 30):
        for module, gguf in MODULES.items():
            n_in, n_out = info.tensors[f"blk.{layer}.{gguf}.weight"]
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            out[f"{prefix}.lora_A.weight"] = rng.normal(0, 0.02, (rank, n_in)).astype("f4")
            out[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.01, (n_out, rank)).astype("f4")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--home", help="data home whose base training cache to measure")
    args = parser.parse_args()
    from test_archive_formats import archive_format_1  # the format-1 writer, kept in the tests

    from support.archive_helpers import lora_config

    tensors = default_adapter()
    config = {**lora_config(8), "target_modules": [m.split(".")[1] for m in MODULES]}
    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(tmp)
        new = archive.archive_peft(session.store, session.assistant(), tensors, config)
        old = archive_format_1(session, tensors, 8)
        new_bytes = folder_bytes(archive.version_dir(session.home, new.id))
        old_bytes = folder_bytes(archive.version_dir(session.home, old.id))
        derived = cache_path(session.home, new.id).stat().st_size
        session.close()
    home = Path(args.home or os.environ.get("KINDRED_HOME")
                or platformdirs.user_data_dir("Kindred", appauthor=False))
    base_cache = folder_bytes(home / "cache" / "bases")
    result = {"mb_per_version": round(new_bytes / 1e6, 2),
              "mb_per_version_format_1": round(old_bytes / 1e6, 2),
              "ratio": round(new_bytes / old_bytes, 3),
              "derived_gguf_mb": round(derived / 1e6, 2),
              "base_cache_mb": round(base_cache / 1e6, 1) if base_cache else None,
              "params": int(sum(t.size for t in tensors.values()))}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
