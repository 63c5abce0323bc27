"""Reading a continuation's log-probability out of an echoed completion, as vLLM sends it."""

from __future__ import annotations

import pytest

from service.generators import continuation_logprob

PROMPT, CONT = "def f(): return", " 1"  # the prefix, then the continuation


def reply(tokens: list[str], values: list[float | None]) -> dict:
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t)
    return {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}


def test_the_continuation_is_found_from_the_end():
    plain = reply(["def", " f", "():", " return", " 1", "\n"], [None, -1.0, -2.0, -0.5, -0.25, -3.0])
    assert continuation_logprob(plain, len(PROMPT + CONT), len(CONT)) == -0.25  # the generated "\n" left out
    # vLLM echoes the model's start token first, and counts it in its offsets: nothing shifts
    bos = reply(["<|begin_of_text|>", "def", " f", "():", " return", " 1", "\n"],
                [None, -4.0, -1.0, -2.0, -0.5, -0.25, -3.0])
    assert continuation_logprob(bos, len(PROMPT + CONT), len(CONT)) == -0.25
    # a token spanning both (" return 1" as one) counts as the continuation's
    merged = reply(["def", " f", "():", " return 1", "\n"], [None, -1.0, -2.0, -0.75, -3.0])
    assert continuation_logprob(merged, len(PROMPT + CONT), len(CONT)) == -0.75


def test_a_reply_that_does_not_echo_the_prompt_is_refused():
    with pytest.raises(ValueError, match="does not echo the whole prompt"):
        continuation_logprob(reply(["\n"], [-3.0]), len(PROMPT + CONT), len(CONT))
    with pytest.raises(ValueError, match="differ in length"):
        continuation_logprob({"tokens": ["a", "b"], "token_logprobs": [None]}, 1, 1)
