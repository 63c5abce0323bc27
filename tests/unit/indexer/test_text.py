from indexer.text import query_words, search_terms, split_identifier


def test_split_identifier():
    assert split_identifier("parseHTTPResponse") == ["parse", "http", "response"]
    assert split_identifier("parse_http_response") == ["parse", "http", "response"]
    assert split_identifier("HTTPServer") == ["http", "server"]
    assert split_identifier("utf8Decode") == ["utf", "8", "decode"]
    assert split_identifier("__init__") == ["init"]


def test_search_terms_appends_split_camel_case_once():
    terms = search_terms("x = parseHTTPResponse(a) + parseHTTPResponse(b)")
    assert terms.count("parse http response") == 1
    assert search_terms("plain words only") == "plain words only"


def test_query_words():
    assert query_words("How is parseHTTPResponse used?") == [
        "how", "is", "parse", "http", "response", "parsehttpresponse", "used"]


def test_split_lines_breaks_at_newlines_alone():
    from indexer.text import split_lines

    assert split_lines("a\x0cb\nc\u2028d\x1ce\r\nf\n") == ["a\x0cb", "c\u2028d\x1ce", "f"]
    assert split_lines("") == [] and split_lines("x") == ["x"] and split_lines("\n\n") == ["", ""]
    assert split_lines("lone\rreturn\n") == ["lone\rreturn"]  # tree-sitter counts \n only


def test_valid_text_replaces_lone_surrogates():
    from indexer.text import valid_text

    assert valid_text("plain é") == "plain é"
    assert valid_text("a\udcff\udcfeb") == "a\ufffd\ufffdb"  # undecodable argv bytes
    assert valid_text("\udcc3\udca9") == "é"  # escaped bytes that are UTF-8 together
    assert valid_text("x\ud800y") == "x\ufffdy"  # not an escaped byte
