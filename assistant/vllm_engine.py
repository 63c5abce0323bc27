"""vLLM in this process, for a GPU host whose environment has vLLM (the `vllm` backend
without a base_url). The usual deployment is `vllm serve` as its own service instead
(vLLM pins its own torch and transformers); this module is the only one importing vllm."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

from .errors import GeneratorError, PromptTooLong
from .generators import TextStream

log = logging.getLogger(__name__)


def _import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise GeneratorError(
            "generator.backend 'vllm' without a base_url runs vLLM in this process, but vllm is not "
            f"installed here ({exc}). Run `vllm serve MODEL` in its own environment and set "
            "generator.base_url, or install vllm on a GPU host.") from exc
    return vllm


class VLLMEngineGenerator:
    """A model served by vLLM's engine in this process, stepped by the calling thread."""

    backend = "vllm"
    tokens_exact = True

    def __init__(self, model: str, *, context_length: int = 0, max_tokens: int = 512,
                 temperature: float = 0.2, top_p: float = 0.95, gpu_memory_utilization: float = 0.85):
        vllm = _import_vllm()
        if not model:
            raise GeneratorError("generator.model must name the model for vLLM to load "
                                 "(a Hugging Face id already in the local cache, or a folder)")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        kwargs: dict = {"model": model, "enable_prefix_caching": True,
                        "gpu_memory_utilization": gpu_memory_utilization}
        if context_length:
            kwargs["max_model_len"] = context_length
        try:
            self._llm = vllm.LLM(**kwargs)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds on a bad model or GPU
            raise GeneratorError(f"vLLM cannot load {model}: {exc}") from exc
        self._engine = self._llm.llm_engine
        self._tokenizer = self._llm.get_tokenizer()
        self.context_length = int(self._engine.model_config.max_model_len)
        self.tokenizer_name = f"{model} (its own tokenizer)"
        self._lock = threading.Lock()  # the engine is stepped by one caller at a time

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False)) if text else 0

    def _sampling(self, max_tokens: int, temperature: float, stop: list[str] | None, extra: dict | None):
        from vllm import SamplingParams

        kwargs: dict = {"max_tokens": max_tokens, "temperature": temperature, "top_p": self.top_p}
        if stop:
            kwargs["stop"] = list(stop)
        structured = (extra or {}).get("structured_outputs")
        if structured:
            try:  # vLLM >= 0.10
                from vllm.sampling_params import StructuredOutputsParams

                kwargs["structured_outputs"] = StructuredOutputsParams(**structured)
            except ImportError:  # older: guided decoding
                from vllm.sampling_params import GuidedDecodingParams

                kwargs["guided_decoding"] = GuidedDecodingParams(**structured)
        return SamplingParams(**kwargs)

    def stream(self, messages: list[dict], *, max_tokens: int, temperature: float,
               stop: list[str] | None = None, cancel: threading.Event | None = None,
               extra: dict | None = None) -> TextStream:
        return TextStream(lambda out: self._pieces(out, messages, max_tokens, temperature, stop, cancel, extra))

    def _pieces(self, out: TextStream, messages, max_tokens, temperature, stop, cancel, extra) -> Iterator[str]:
        prompt = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        n_prompt = len(self._tokenizer.encode(prompt, add_special_tokens=False))
        out.prompt_tokens = n_prompt
        if n_prompt >= self.context_length:
            raise PromptTooLong(f"the prompt has {n_prompt} tokens; {self.model} takes at most "
                                f"{self.context_length}", status=400)
        params = self._sampling(min(max_tokens, self.context_length - n_prompt), temperature, stop, extra)
        request_id = uuid.uuid4().hex
        sent = 0
        with self._lock:
            self._engine.add_request(request_id, prompt, params)
            try:
                while self._engine.has_unfinished_requests():
                    if cancel is not None and cancel.is_set():
                        out.finish_reason = "cancelled"
                        return
                    for result in self._engine.step():
                        if result.request_id != request_id or not result.outputs:
                            continue
                        completion = result.outputs[0]
                        text = completion.text  # cumulative
                        if len(text) > sent:
                            yield text[sent:]
                            sent = len(text)
                        out.completion_tokens = len(completion.token_ids)
                        if result.finished:
                            out.finish_reason = completion.finish_reason or "stop"
                            return
            finally:
                if out.finish_reason in (None, "cancelled"):
                    self._engine.abort_request([request_id])

    def close(self) -> None:
        self._llm = self._engine = None
