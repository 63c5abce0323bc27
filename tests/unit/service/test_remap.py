"""Remap: where a file's indexed lines are in an unsaved buffer."""

from __future__ import annotations

from service.convert import Remap

OLD = ["def f():", "    return g()", "", "def h():", "    return g()", ""]


def test_kept_lines_move_with_what_was_inserted_and_deleted_above():
    r = Remap(OLD, ["import os", "", *OLD])
    assert [r.line(n) for n in range(1, 7)] == [3, 4, 5, 6, 7, 8]
    r = Remap(OLD, OLD[3:])
    assert [r.line(n) for n in range(1, 7)] == [None, None, None, 1, 2, 3]
    assert Remap(OLD, OLD)._ops == [(0, 6, 0, 6, True)] and Remap(OLD, OLD).line(7) is None


def test_a_use_on_a_changed_line_is_found_on_the_lines_that_replaced_it():
    buf = ["# top", "def f():", "    x = 1; return g() + x", "", "def h():", "    return 0", ""]
    r = Remap(OLD, buf)
    assert r.site(2, 11, "g") == (3, 18)  # changed: the name found again, byte column of the buffer's line
    assert r.site(5, 11, "g") is None  # the buffer calls g there no more
    assert r.site(1, 4, "f") == (2, 4)  # kept: moved, column as it was
    assert Remap(["    ɡ = gg(g)"], ["  ɡ = gg(g)"]).site(1, 12, "g") == (1, 10)  # a whole word, in bytes
    assert Remap(["x = g()"], ["x = gé() + 0"]).site(1, 4, "g") is None  # not inside a longer (Unicode) name
    two = Remap(["    return g() + g()"], ["    return g() + g() + 1"])
    assert (two.site(1, 11, "g"), two.site(1, 17, "g")) == ((1, 11), (1, 17))  # each use its own


def test_a_rewritten_file_too_large_to_diff_is_one_replaced_block():
    old = [f"a{n % 7}" for n in range(9000)]
    new = [f"b{n % 5}" for n in range(9000)]
    r = Remap(["head", *old, "tail"], ["head", *new, "tail"])
    assert r._ops == [(0, 1, 0, 1, True), (1, 9001, 1, 9001, False), (9001, 9002, 9001, 9002, True)]
    assert (r.line(1), r.line(9002), r.line(2)) == (1, 9002, None)


def test_a_definitions_span_keeps_its_ends_inside_the_buffer():
    r = Remap(OLD, ["def f():", "    return 1", "    # more", "", "def h():", "    return g()", ""])
    assert r.span(1, 2) == (1, 3)  # its changed last line: the lines that replaced it
    assert r.span(4, 5) == (5, 6)
    r = Remap(OLD, OLD[:3])  # h deleted: where it was, at the end
    assert r.span(4, 5) == (3, 3)
    assert Remap(OLD, [""]).span(1, 6) == (1, 1)
