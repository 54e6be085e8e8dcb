"""The chat template prompts are formatted with: the model's own, or a plain fallback.

Pretrained (not instruction-tuned) GGUF files such as Gemma 3 270M carry no
`tokenizer.chat_template`. Rather than refuse them, Kindred formats their conversations as plain
text that any language model continues sensibly:

    <system prompt>

    User: <question>
    Assistant: <answer><eos>
    User: ...
    Assistant:

Every answer ends with the model's end-of-sequence token, so an adapter trained on this layout
learns where to stop. The engine (chat time) and the training tokenizer use this same module, so an
adapter is trained on exactly the token sequences it will see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLAIN_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}{{ '\\n\\n' }}"
    "{% elif m['role'] == 'user' %}{{ 'User: ' }}{{ m['content'] }}{{ '\\n' }}"
    "{% else %}{{ 'Assistant: ' }}{{ m['content'] }}{{ eos_token }}{{ '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
"""Used for models whose GGUF has no chat template (see the module docstring)."""


def template_of(metadata: Mapping[str, Any]) -> tuple[str, bool]:
    """(template, is_fallback): the model's own chat template, else the plain one."""
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        return template, False
    return PLAIN_TEMPLATE, True


def make_formatter(model: Any, metadata: Mapping[str, Any], *,
                   add_generation_prompt: bool = True) -> Any:
    """A llama-cpp-python Jinja2ChatFormatter for `model` (a llama_cpp LlamaModel), with its
    own bos/eos texts."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template, _ = template_of(metadata)
    eos, bos = model.token_eos(), model.token_bos()
    return Jinja2ChatFormatter(
        template=template, add_generation_prompt=add_generation_prompt,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "")
