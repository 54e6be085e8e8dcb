"""Importing outside adapters: good ones become candidates, bad ones get a clear error and
change nothing."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kindred.core.archive import versions
from kindred.core.archive.adapter_import import import_adapter
from kindred.core.archive.objects import verify_version
from kindred.core.basics.errors import KindredError
from kindred.core.formats.adapters_check import AdapterMismatchError
from kindred.core.formats.gguf_info import InvalidGGUFError
from kindred.core.formats.lora_gguf import LoraFormatError, write_lora_gguf
from kindred.core.formats.peft_files import AdapterFileError
from kindred.core.home import ledger
from kindred.core.session import Session
from support.archive_helpers import home_state, lora_config, write_peft_folder
from support.lora import make_lora_gguf, peft_tensors

_opened: list[str] = []
_watching = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _watching and event == "open" and args and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


def test_import_peft_folder_becomes_a_candidate(session: Session, model_path: Path,
                                                tmp_path: Path) -> None:
    folder = write_peft_folder(model_path, tmp_path / "my-lora", seed=4)
    version = import_adapter(session.store, session.assistant(), folder)
    assert version.status == "candidate" and version.source == "imported"
    assert verify_version(session.store, version.id).ok
    kinds = [e.kind for e in ledger.events(session.store)]
    assert kinds[-2:] == [ledger.VERSION_ARCHIVED, ledger.IMPORTED]
    assert session.assistant().active_version is None  # importing never activates


def test_import_gguf_round_trips_tensors(session: Session, model_path: Path,
                                         tmp_path: Path) -> None:
    gguf = make_lora_gguf(model_path, tmp_path / "x.gguf", rank=4, seed=3, alpha=6.0)
    version = import_adapter(session.store, session.assistant(), gguf)
    from kindred.core.archive.objects import peft_folder
    from kindred.core.formats.peft_files import read_safetensors

    stored = read_safetensors(peft_folder(session.store, version.id)
                              / "adapter_model.safetensors")
    original = peft_tensors(model_path, rank=4, seed=3)
    assert stored.keys() == original.keys()
    assert all(np.allclose(stored[k], original[k], rtol=1e-3, atol=1e-6)  # stored in fp16
               for k in stored)  # q/k rows un-permuted
    config = json.loads((peft_folder(session.store, version.id) / "adapter_config.json")
                        .read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 6.0
    assert version.manifest["training"]["format"] == "gguf"


def test_half_precision_safetensors_are_accepted(session: Session, model_path: Path,
                                                 tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    folder = tmp_path / "f16"
    folder.mkdir()
    save_file({k: v.astype(np.float16) for k, v in peft_tensors(model_path).items()},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(lora_config(4)))
    assert import_adapter(session.store, session.assistant(), folder).status == "candidate"


# -- bad inputs ------------------------------------------------------------------------------


def _peft(model_path: Path, tmp: Path) -> Path:
    return write_peft_folder(model_path, tmp / "peft")


def _truncated_safetensors(model_path: Path, tmp: Path) -> Path:
    folder = _peft(model_path, tmp)
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    return folder


def _header_lies_about_sizes(model_path: Path, tmp: Path) -> Path:
    folder = _peft(model_path, tmp)
    weights = folder / "adapter_model.safetensors"
    raw = weights.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    name = sorted(k for k in header if k != "__metadata__")[0]
    header[name]["shape"] = [header[name]["shape"][0] * 2, header[name]["shape"][1]]
    body = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length:])
    return folder


def _header_length_beyond_file(model_path: Path, tmp: Path) -> Path:
    folder = _peft(model_path, tmp)
    weights = folder / "adapter_model.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes(struct.pack("<Q", 10**9) + raw[8:])
    return folder


def _overlapping_offsets(model_path: Path, tmp: Path) -> Path:
    folder = _peft(model_path, tmp)
    weights = folder / "adapter_model.safetensors"
    raw = weights.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    names = sorted((k for k in header if k != "__metadata__"),
                   key=lambda k: header[k]["data_offsets"][0])
    header[names[1]]["data_offsets"] = header[names[0]]["data_offsets"]
    header[names[1]]["shape"] = header[names[0]]["shape"]
    body = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length:])
    return folder


def _pickle_folder(model_path: Path, tmp: Path) -> Path:
    folder = tmp / "pickled"
    folder.mkdir()
    # a real pickle that would run code if loaded
    (folder / "adapter_model.bin").write_bytes(
        b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93"
        b"\x94\x8c\x04true\x94\x85\x94R\x94.")
    (folder / "adapter_config.json").write_text(json.dumps(lora_config(4)))
    return folder


def _pickle_file(model_path: Path, tmp: Path) -> Path:
    path = tmp / "adapter.pt"
    path.write_bytes(b"\x80\x04K\x01.")
    return path


def _other_shapes(model_path: Path, tmp: Path) -> Path:
    folder = tmp / "big"
    folder.mkdir()
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    save_file({f"{prefix}.lora_A.weight": rng.normal(size=(4, 2048)).astype("f4"),
               f"{prefix}.lora_B.weight": rng.normal(size=(2048, 4)).astype("f4")},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(lora_config(4)))
    return folder


def _other_architecture_names(model_path: Path, tmp: Path) -> Path:
    folder = tmp / "gpt2"
    folder.mkdir()
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    prefix = "base_model.model.transformer.h.0.attn.c_attn"
    save_file({f"{prefix}.lora_A.weight": rng.normal(size=(4, 768)).astype("f4"),
               f"{prefix}.lora_B.weight": rng.normal(size=(2304, 4)).astype("f4")},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(lora_config(4)))
    return folder


def _gguf_other_architecture(model_path: Path, tmp: Path) -> Path:
    return make_lora_gguf(model_path, tmp / "qwen.gguf", architecture="qwen2")


def _gguf_not_an_adapter(model_path: Path, tmp: Path) -> Path:
    return model_path


def _gguf_truncated(model_path: Path, tmp: Path) -> Path:
    good = make_lora_gguf(model_path, tmp / "full.gguf")
    bad = tmp / "cut.gguf"
    bad.write_bytes(good.read_bytes()[:-3000])
    return bad


def _gguf_other_shapes(model_path: Path, tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp / "shapes.gguf"
    write_lora_gguf(path, {"blk.0.attn_q.weight.lora_a": rng.normal(size=(4, 640)).astype("f4"),
                           "blk.0.attn_q.weight.lora_b": rng.normal(size=(576, 4)).astype("f4")},
                    architecture="llama", alpha=4)
    return path


def _dora_config(model_path: Path, tmp: Path) -> Path:
    return write_peft_folder(model_path, tmp / "dora", config=lora_config(4, use_dora=True))


def _rank_mismatch(model_path: Path, tmp: Path) -> Path:
    return write_peft_folder(model_path, tmp / "rank", rank=4, config=lora_config(8))


def _not_lora(model_path: Path, tmp: Path) -> Path:
    return write_peft_folder(model_path, tmp / "ia3",
                             config={"peft_type": "IA3", "r": 4, "lora_alpha": 4})


def _nan_weights(model_path: Path, tmp: Path) -> Path:
    from safetensors.numpy import save_file

    folder = tmp / "nan"
    folder.mkdir()
    tensors = peft_tensors(model_path)
    first = sorted(tensors)[0]
    tensors[first][0, 0] = np.nan
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(lora_config(4)))
    return folder


def _random_bytes(model_path: Path, tmp: Path) -> Path:
    path = tmp / "mystery.lora"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _bad_config_json(model_path: Path, tmp: Path) -> Path:
    folder = _peft(model_path, tmp)
    (folder / "adapter_config.json").write_text("{not json")
    return folder


BAD_ADAPTERS: list[tuple[Callable[[Path, Path], Path], type[Exception], str]] = [
    (_truncated_safetensors, AdapterFileError, "truncated"),
    (_header_lies_about_sizes, AdapterFileError, "header lies about tensor"),
    (_header_length_beyond_file, AdapterFileError, "its header claims"),
    (_overlapping_offsets, AdapterFileError, "lies about sizes"),
    (_pickle_folder, AdapterFileError, "pickle file, which can run code"),
    (_pickle_file, AdapterFileError, "never opens pickles"),
    (_other_shapes, AdapterMismatchError, "do not fit the base"),
    (_other_architecture_names, LoraFormatError, "Unexpected tensor"),
    (_gguf_other_architecture, AdapterMismatchError, "'qwen2' architecture"),
    (_gguf_not_an_adapter, AdapterMismatchError, "not a LoRA adapter"),
    (_gguf_truncated, InvalidGGUFError, "truncated"),
    (_gguf_other_shapes, AdapterMismatchError, "do not fit the base"),
    (_dora_config, AdapterFileError, "use_dora"),
    (_rank_mismatch, AdapterFileError, "config says rank 8"),
    (_not_lora, AdapterFileError, "only LoRA adapters"),
    (_nan_weights, AdapterFileError, "NaN or infinite"),
    (_random_bytes, AdapterFileError, "neither a PEFT adapter folder nor"),
    (_bad_config_json, AdapterFileError, "not valid JSON"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_ADAPTERS,
                         ids=[m.__name__.strip("_") for m, _, _ in BAD_ADAPTERS])
def test_bad_adapters_are_refused_and_nothing_changes(
        session: Session, model_path: Path, tmp_path: Path,
        make: Callable[[Path, Path], Path], error: type[Exception], message: str) -> None:
    global _watching
    bad = make(model_path, tmp_path)
    before = home_state(session)
    _opened.clear()
    _watching = True
    try:
        with pytest.raises(error, match=message) as caught:
            import_adapter(session.store, session.assistant(), bad)
    finally:
        _watching = False
    assert isinstance(caught.value, KindredError)
    assert str(caught.value).endswith("Nothing was changed.")
    assert home_state(session) == before
    assert versions.list_versions(session.store) == []
    assert not [p for p in _opened if p.endswith((".bin", ".pt"))]  # pickles never opened
