"""Chunks follow the syntax: whole definitions, large ones cut at statements, small merged."""

from __future__ import annotations

from indexer.options import IndexOptions
from indexer.parse import parse_source
from indexer.records import Chunk, FileRecord


def chunks_of(source: str, language: str = "python", **options) -> list[Chunk]:
    data = source.encode()
    opts = IndexOptions(**options)
    pf = parse_source("f", language, data, opts, FileRecord("f", language, len(data), 0, ""))
    return [Chunk(a, b, s, k, tuple(ss.split()), t, h, n) for a, b, s, k, ss, t, h, n, *_ in pf.chunks]


def covered_once(source: str, chunks: list[Chunk]) -> bool:
    lines = source.splitlines()
    seen = [0] * (len(lines) + 1)
    for c in chunks:
        for i in range(c.start_line, c.end_line + 1):
            seen[i] += 1
    return all(seen[i] == 1 for i, line in enumerate(lines, 1) if line.strip()) and max(seen) == 1


def test_functions_are_whole_units_with_their_symbol():
    src = ("import os\n\n\n"
           + "".join(f"def handler_{i}(request, response):\n"
                     f"    value = request.get('key_{i}') or os.environ.get('K{i}')\n"
                     f"    response.write(value)\n    return response\n\n\n" for i in range(3)))
    chunks = chunks_of(src, chunk_min_tokens=10)
    assert [(c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("", 1, 1), ("handler_0", 4, 7), ("handler_1", 10, 13), ("handler_2", 16, 19)]
    assert covered_once(src, chunks)


def test_large_function_is_split_at_statements_and_keeps_its_symbol():
    body = "".join(f"    step_{i} = compute_something(step_{i - 1}, factor={i}, label='s{i}')\n"
                   for i in range(1, 80))
    src = "class Pipeline:\n    def run(self, step_0):\n" + body.replace("\n    ", "\n        ").replace(
        "    step_1", "        step_1", 1) + "        return step_79\n"
    chunks = chunks_of(src, chunk_max_tokens=200)
    assert len(chunks) > 3
    assert all(c.tokens <= 200 for c in chunks)
    assert {c.symbol for c in chunks} == {"Pipeline.run"} | ({"Pipeline"} if chunks[0].symbol == "Pipeline" else set())
    assert covered_once(src, chunks)
    assert chunks[-1].end_line == len(src.splitlines())


def test_class_too_large_is_cut_into_its_methods():
    methods = "".join(f"    def method_{i}(self, a, b):\n        return self.helper(a, b, {i}) * {i} + a - b\n\n"
                      for i in range(12))
    src = "class Big:\n    \"\"\"A big class.\"\"\"\n\n" + methods
    chunks = chunks_of(src, chunk_max_tokens=120, chunk_min_tokens=10)
    assert covered_once(src, chunks)
    assert all(c.tokens <= 120 for c in chunks)
    symbols = [c.symbol for c in chunks]
    assert "Big.method_0" in symbols or any("Big.method_0" in c.symbols for c in chunks)
    assert all(s.startswith("Big") for s in symbols)


def test_small_neighbours_are_merged():
    src = "".join(f"def g{i}():\n    return {i}\n\n" for i in range(6))
    chunks = chunks_of(src, chunk_min_tokens=40)
    assert len(chunks) == 1
    assert chunks[0].symbol == ""  # no single definition encloses them all
    assert chunks[0].symbols == tuple(f"g{i}" for i in range(6))


def test_text_files_are_chunked_by_paragraphs():
    src = "\n\n".join(f"Paragraph {i} " + "words " * 60 for i in range(6))
    chunks = chunks_of(src, language="text", chunk_max_tokens=250)
    assert len(chunks) >= 3
    assert covered_once(src, chunks)
    assert all(c.kind == "text" for c in chunks)


def test_decorators_and_doc_comments_stay_with_their_definition():
    py = "import x\n\n\n@decorate(1)\n@other\ndef f():\n    return 1\n"
    chunks = chunks_of(py, chunk_min_tokens=1)
    assert [(c.symbol, c.start_line) for c in chunks] == [("", 1), ("f", 4)]
    go = "package p\n\n// Run starts the server.\n// It blocks.\nfunc Run() error {\n\treturn nil\n}\n"
    chunks = chunks_of(go, language="go", chunk_min_tokens=1)
    assert [(c.symbol, c.start_line, c.end_line) for c in chunks] == [("", 1, 1), ("Run", 3, 7)]
