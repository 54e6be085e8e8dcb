"""A LoRA linear layer's forward and backward as one autograd node, in the training process only.

peft computes `base(x) + lora_B(lora_A(x)) * scaling` as five autograd nodes (two small matrix
products, a multiply and an add over the whole output, then their backward passes), each
reading and writing the full output again. On a CPU most of that is memory traffic: here the
adapter's product is added into the base's output in place (`addmm_`, scaling folded in), and
the backward pass computes only what the frozen base needs (the input's gradient) plus the
two small adapter gradients. Same numbers as peft's (tested), fewer passes over memory.

Only plain fp32 LoRA on a bias-free linear layer takes this path (the default adapter on
SmolLM2 and Gemma); anything else (bf16 autocast, the adapter switched off, merged weights,
several adapters, DoRA and other variants) keeps peft's own forward.
"""

from __future__ import annotations

import types
from typing import Any

import torch


class _LoraLinear(torch.autograd.Function):
    """y = x Wᵀ + s (x Aᵀ) Bᵀ with W frozen; gradients for x, A and B."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, a: torch.Tensor,
                b: torch.Tensor, scaling: float) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        low = flat @ a.t()
        out = (flat @ weight.t()).addmm_(low, b.t(), alpha=scaling)
        ctx.save_for_backward(flat, weight, a, b, low)
        ctx.scaling = scaling
        ctx.shape = shape
        return out.reshape(*shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        flat, weight, a, b, low = ctx.saved_tensors
        scaling = ctx.scaling
        grad2 = grad.reshape(-1, grad.shape[-1])
        through_b = grad2 @ b
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad2 @ weight).addmm_(through_b, a, alpha=scaling).reshape(ctx.shape)
        grad_a = (through_b.t() @ flat).mul_(scaling) if ctx.needs_input_grad[2] else None
        grad_b = (grad2.t() @ low).mul_(scaling) if ctx.needs_input_grad[3] else None
        return grad_x, None, grad_a, grad_b, None


def _fused_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    peft_forward = self._kindred_peft_forward
    if (self.disable_adapters or self.merged or args or kwargs
            or len(self.active_adapters) != 1 or torch.is_autocast_enabled("cpu")):
        return peft_forward(x, *args, **kwargs)
    name = self.active_adapters[0]
    weight = self.base_layer.weight
    if (name not in self.lora_A or name in getattr(self, "lora_variant", {})
            or self.base_layer.bias is not None or weight.dtype != torch.float32
            or x.dtype != torch.float32 or self.lora_A[name].weight.dtype != torch.float32
            or not isinstance(self.lora_dropout[name], torch.nn.Identity)):
        return peft_forward(x, *args, **kwargs)
    return _LoraLinear.apply(x, weight, self.lora_A[name].weight,  # type: ignore[no-untyped-call]
                             self.lora_B[name].weight, float(self.scaling[name]))


def fuse(model: Any) -> int:
    """Give every peft LoRA linear layer of `model` the one-node forward (where it applies,
    see the module docstring); returns how many layers it was given to."""
    from peft.tuners.lora.layer import Linear

    count = 0
    for module in model.modules():
        if isinstance(module, Linear) and not hasattr(module, "_kindred_peft_forward"):
            layer: Any = module
            layer._kindred_peft_forward = layer.forward
            layer.forward = types.MethodType(_fused_forward, layer)
            count += 1
    return count
