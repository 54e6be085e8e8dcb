"""Does a llama.cpp LoRA adapter fit a base model? Checked before llama.cpp ever sees it.

llama.cpp refuses some mismatches with only a log line and may misbehave on others, so the
architecture, each tensor name and each shape are checked here, with a message a person can act on.
"""

from __future__ import annotations

from kindred.core.basics.errors import KindredError
from kindred.core.formats.gguf_info import GGUFInfo


class AdapterMismatchError(KindredError):
    """The adapter was made for a different base model."""


def check_adapter_fits(adapter: GGUFInfo, base: GGUFInfo) -> None:
    name = adapter.path.name
    if adapter.file_type != "adapter" or adapter.metadata.get("adapter.type") != "lora":
        raise AdapterMismatchError(f"{name} is not a llama.cpp LoRA adapter.")
    if adapter.architecture != base.architecture:
        raise AdapterMismatchError(
            f"{name} was made for the '{adapter.architecture}' architecture; "
            f"this base model is '{base.architecture}'."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for tensor, shape in adapter.tensors.items():
        stem, _, part = tensor.rpartition(".")
        if part not in ("lora_a", "lora_b"):
            raise AdapterMismatchError(f"{name}: unexpected tensor '{tensor}'.")
        pairs.setdefault(stem, {})[part] = shape
    if not pairs:
        raise AdapterMismatchError(f"{name} holds no LoRA weights.")
    for stem, parts in sorted(pairs.items()):
        if stem not in base.tensors:
            raise AdapterMismatchError(
                f"{name}: the base model has no tensor '{stem}' (adapter for another model?)."
            )
        if set(parts) != {"lora_a", "lora_b"}:
            raise AdapterMismatchError(f"{name}: '{stem}' lacks its lora_a or lora_b half.")
        base_shape = base.tensors[stem]
        a, b = parts["lora_a"], parts["lora_b"]
        # GGUF shapes list the innermost dimension first: base (in, out), A (in, r), B (r, out).
        if len(a) != 2 or len(b) != 2 or len(base_shape) != 2:
            raise AdapterMismatchError(f"{name}: '{stem}' has a shape LoRA cannot apply to.")
        if a[0] != base_shape[0] or b[1] != base_shape[1] or a[1] != b[0]:
            raise AdapterMismatchError(
                f"{name}: '{stem}' shapes A{list(a)} B{list(b)} do not fit the base "
                f"{list(base_shape)} (adapter for a model of another size?)."
            )
