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
