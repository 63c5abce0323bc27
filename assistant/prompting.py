"""Prompt templates kept as data files (assistant/prompts/*.md), and the chat messages built
from them.

A template file is split at marker comments on lines of their own: `<!-- system -->`,
`<!-- user -->` and `<!-- format:NAME -->` (alternatives appended to the system text).
Placeholders `{name}` are filled in one pass, so text inside a bundle that happens to look
like a placeholder is never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

_MARKER = re.compile(r"^<!--\s*(system|user|format:[\w-]+)\s*-->[ \t]*$", re.M)
_FIELD = re.compile(r"\{(\w+)\}")
NO_FACTS = "(none: everything beyond the bundle is your inference)"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str
    user: str
    formats: Mapping[str, str] = field(default_factory=dict)

    def system_text(self, fmt: str | None = None) -> str:
        if fmt is None:
            return self.system
        if fmt not in self.formats:
            raise KeyError(f"prompt {self.name} has no format {fmt!r} (it has: {', '.join(self.formats)})")
        return self.system.rstrip() + "\n\n" + self.formats[fmt]

    def user_text(self, **values: str) -> str:
        return fill(self.user, values)


def fill(template: str, values: Mapping[str, str]) -> str:
    """Each `{name}` of `template` replaced by values[name], in one pass; unknown names stay."""
    return _FIELD.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def parse_template(name: str, text: str) -> PromptTemplate:
    parts = _MARKER.split(text)
    # parts: [preamble, marker, body, marker, body, ...]
    sections: dict[str, str] = {}
    for marker, body in zip(parts[1::2], parts[2::2], strict=True):
        if marker in sections:
            raise ValueError(f"prompt {name}: section {marker} appears twice")
        sections[marker] = body.strip("\n") + "\n"
    if "system" not in sections or "user" not in sections:
        raise ValueError(f"prompt {name}: needs <!-- system --> and <!-- user --> sections")
    formats = {k.split(":", 1)[1]: v for k, v in sections.items() if k.startswith("format:")}
    return PromptTemplate(name, sections["system"], sections["user"], formats)


@cache
def load_prompt(name: str) -> PromptTemplate:
    """assistant/prompts/<name>.md, read from the installed package."""
    try:
        text = resources.files("assistant").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no prompt named {name!r} in assistant/prompts") from None
    return parse_template(name, text)


def render_facts(facts: Iterable[str]) -> str:
    lines = [f"- {f.strip()}" for f in facts if f and f.strip()]
    return "\n".join(lines) if lines else NO_FACTS


def ask_messages(bundle_text: str, question: str, facts: Iterable[str] = ()) -> list[dict]:
    """System prompt, then one user turn: bundle (map first), exact facts, the question last."""
    template = load_prompt("ask")
    return [
        {"role": "system", "content": template.system_text()},
        {"role": "user", "content": template.user_text(bundle=bundle_text.rstrip() + "\n",
                                                        facts=render_facts(facts), question=question.strip())},
    ]


def edit_prompt_messages(bundle_text: str, instruction: str, facts: Iterable[str] = (), *,
                         json_mode: bool = False) -> list[dict]:
    template = load_prompt("edit")
    return [
        {"role": "system", "content": template.system_text("json" if json_mode else "blocks")},
        {"role": "user", "content": template.user_text(bundle=bundle_text.rstrip() + "\n",
                                                        facts=render_facts(facts),
                                                        instruction=instruction.strip())},
    ]
