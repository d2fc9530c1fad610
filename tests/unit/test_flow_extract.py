"""Extractors: compiled once, applied to one shared Response parse."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.flow import Response, compile_extractor, extract_all

BODY = b'{"token": "t-1", "items": [{"id": 5}, {"id": 6}], "empty": []}'
RESPONSE = Response(
    status=200,
    headers={"Content-Type": "application/json", "X-Request-Id": "r-9"},
    body=BODY,
    cookies={"session": "s-3"},
)

APPLY = [
    ("json", "token", "t-1"),
    ("json", "items[1].id", 6),
    ("json", "items[*].id", [5, 6]),
    ("json", "empty", []),
    ("json", "missing", None),
    ("header", "x-request-id", "r-9"),
    ("header", "X-REQUEST-ID", "r-9"),
    ("header", "Location", None),
    ("cookie", "session", "s-3"),
    ("cookie", "Session", None),
    ("regex", r'"token": "([^"]+)"', "t-1"),
    ("regex", r"t-\d", "t-1"),
    ("regex", r"(nomatch)", None),
    ("regex", r'"id": (\d+)|(x)', "5"),
]


@pytest.mark.parametrize(("source", "expr", "expected"), APPLY)
def test_apply(source: str, expr: str, expected: object) -> None:
    extractor = compile_extractor({"name": "v", "source": source, "expr": expr}, "p")
    assert extractor.apply(RESPONSE) == expected


NOT_JSON = [b"", b"<html>", b"\xff\xfe\x00garbage"]


@pytest.mark.parametrize("body", NOT_JSON)
def test_json_of_a_non_json_body_is_none(body: bytes) -> None:
    extractor = compile_extractor({"name": "v", "source": "json", "expr": "a"}, "p")
    assert extractor.apply(Response(200, body=body)) is None


def test_regex_over_undecodable_bytes() -> None:
    extractor = compile_extractor({"name": "v", "source": "regex", "expr": r"id=(\w+)"}, "p")
    assert extractor.apply(Response(200, body=b"\xff id=abc")) == "abc"


def test_extractors_share_one_parse() -> None:
    response = Response(200, body=b'{"a": 1, "b": 2}')
    specs = [{"name": n, "source": "json", "expr": n} for n in ("a", "b", "c")]
    extractors = tuple(compile_extractor(spec, "p") for spec in specs)
    parsed = response.json
    assert extract_all(extractors, response) == {"a": 1, "b": 2}
    assert response.json is parsed


BAD = [
    ({"name": "token", "source": "json", "expr": "a..b"},
     ("flow[1].extract.token: bad JMESPath 'a..b': Expecting: ['quoted_identifier', "
      "'unquoted_identifier', 'lbracket', 'lbrace'], got: dot at column 2")),
    ({"name": "token", "source": "json", "expr": "foo["},
     "flow[1].extract.token: bad JMESPath 'foo[': incomplete expression"),
    ({"name": "token", "source": "json", "expr": "a'"},
     "flow[1].extract.token: bad JMESPath \"a'\": Unclosed ' delimiter at column 1"),
    ({"name": "token", "source": "regex", "expr": "(a"},
     "flow[1].extract.token: bad regex '(a': missing ), unterminated subpattern at position 0"),
    ({"name": "token", "source": "xml", "expr": "a"},
     "flow[1].extract.token.source: must be one of: json, header, regex, cookie, got 'xml'"),
    ({"name": "token", "source": "json"}, "flow[1].extract.token.expr: is required"),
    ({"name": "token", "source": "json", "expr": ""},
     "flow[1].extract.token.expr: must not be empty"),
    ({"name": "a.b", "source": "json", "expr": "a"},
     "flow[1].extract.token.name: must be a plain name (letters, digits, _), got 'a.b'"),
    ({"name": "t", "source": "json", "expr": "a", "default": 1},
     "flow[1].extract.token: unknown key 'default' (expected one of: name, source, expr)"),
    ("token", "flow[1].extract.token: must be a mapping, got 'token'"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_extractor_names_the_yaml_path(spec: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_extractor(spec, "flow[1].extract.token")
    assert str(caught.value) == message


# -- extractions that raise, bodies cut at max_body, regexes on RE2 ------------------------

from loadray.flow.extract import ExtractError  # noqa: E402


@pytest.mark.parametrize(
    ("expr", "body", "cause", "message"),
    [
        ("foo(@)", b'{"a": 1}', "UnknownFunctionError", "Unknown function: foo()"),
        ("abs(s)", b'{"s": "x"}', "JMESPathTypeError",
         "In function abs(), invalid type for value: x, expected one of: ['number'], received: \"string\""),
    ],
)
def test_a_jmespath_that_raises_on_the_response_is_an_extract_error(expr, body, cause, message) -> None:
    extractor = compile_extractor({"name": "v", "source": "json", "expr": expr}, "e")
    with pytest.raises(ExtractError) as caught:
        extract_all((extractor,), Response(200, body=body))
    assert caught.value.name == "v"
    assert type(caught.value.cause).__name__ == cause and str(caught.value.cause) == message


def test_extraction_from_a_body_cut_at_max_body() -> None:
    cut = Response(200, headers={"X-Id": "7"}, body=b'{"id": 12, "rest": "...', truncated=True)
    found = extract_all(
        (compile_extractor({"name": "n", "source": "regex", "expr": r'"id": (\d+)'}, "e"),
         compile_extractor({"name": "h", "source": "header", "expr": "x-id"}, "e")),
        cut,
    )
    assert found == {"n": "12", "h": "7"}  # a match in the kept part, a header: both fine
    for spec in ({"name": "j", "source": "json", "expr": "id"}, {"name": "r", "source": "regex", "expr": "never"}):
        with pytest.raises(ExtractError) as caught:
            extract_all((compile_extractor(spec, "e"),), cut)
        assert str(caught.value.cause) == "body over max_body (23 bytes kept)"
