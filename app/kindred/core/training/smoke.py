"""A training step on a tiny model made from a config: proves the trainer's imports work.

Run inside the desktop bundle after it is built (`kindred --smoke-worker`, see `kindred.frozen`
and packaging/build.py): a package the trainer reaches only when it loads a model (transformers'
activations import `kernels`, which reads a data file at import) fails here, at build time,
instead of in the person's first training. No weights, no network: a 2-layer llama of width 64,
a LoRA on it (peft), one forward and backward pass.
"""

from __future__ import annotations

import json
import sys


def run() -> dict[str, object]:
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    import kindred.core.training.job  # the trainer's own modules import cleanly
    import kindred.core.training.trainer  # noqa: F401

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj",
                                                                                 "v_proj"]))
    ids = torch.randint(0, 128, (1, 12))
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = sum(int(p.grad is not None) for p in model.parameters() if p.requires_grad)
    if not torch.isfinite(loss) or grads == 0:
        raise RuntimeError(f"the smoke step gave loss {loss.item()} with {grads} gradients")
    return {"ok": True, "loss": round(float(loss.item()), 4), "lora_grads": grads,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__}


def main() -> int:
    try:
        result = run()
    except Exception as exc:  # the build prints this and fails
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
