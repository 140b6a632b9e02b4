"""addin.formats: each shared rule, and every layer (and the emulator's copy) agreeing with it."""

from __future__ import annotations

import datetime as dt
from importlib import metadata

import pytest

from addin import formats
from addin.engine.phones import normalize
from addin.formats import (
    ANSWERS,
    E164_PATTERN,
    ERROR,
    INVALID,
    OUTCOMES,
    RESULT_ANSWERS,
    TASK_ID_PATTERN,
    UNKNOWN_VERSION,
    column_index,
    column_letters,
    is_e164,
    is_task_id,
    package_version,
    utc_timestamp,
)
from addin.upstream import RetryPolicy, TransportError, VendorClient, parse_result_file
from addin.upstream.exceptions import ProtocolError
from addin.upstream.models import parse_task
from mock_server import upload as emulator_upload
from mock_server.models import TaskIdGenerator
from mock_server.settings import FIXTURE_ANSWERS

FIFTEEN = "+" + "1" * 15
SIXTEEN = "+" + "1" * 16

#: (text, is it E.164): the boundaries of the vendor's "+ then 1-15 digits, first not 0".
E164_CASES = [
    ("+1", True),
    ("+41798284651", True),
    (FIFTEEN, True),
    (SIXTEEN, False),
    ("+", False),
    ("+0798284651", False),
    ("41798284651", False),
    ("+41 79 828 46 51", False),
    ("+41798284651\n", False),
    ("++41798284651", False),
    # Arabic-Indic and full-width digits: "\d" would take them, the vendor cannot read them.
    ("+٤١٧٩٨٢٨٤٦٥١", False),
    ("+４１７９８２８４６５１", False),
]


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(formats) if not name.startswith("_")}
    public -= {"annotations", "dt", "re", "metadata", "Final", "phonenumbers"}
    assert formats.__all__ == sorted(formats.__all__, key=lambda n: (not n.isupper(), n))
    assert set(formats.__all__) == public


@pytest.mark.parametrize(("text", "expected"), E164_CASES)
def test_e164(text: str, expected: bool) -> None:
    assert is_e164(text) is expected


def test_e164_pattern_is_ascii_digits_up_to_fifteen() -> None:
    assert E164_PATTERN == r"\+[1-9][0-9]{0,14}"


def test_the_emulator_keeps_the_same_e164_rule() -> None:
    """mock_server must not import the add-in, so it has its own copy: it must not drift."""
    assert emulator_upload.E164.pattern == E164_PATTERN
    for text, expected in E164_CASES:
        assert emulator_upload.is_e164(text) is expected, text


#: The cases the result parser cannot repair: it adds a lost "+" and drops spaces.
PARSER_CASES = [
    (t, e) for t, e in E164_CASES if t.startswith("+") and not any(c.isspace() for c in t)
]


@pytest.mark.parametrize(("text", "expected"), PARSER_CASES)
def test_the_result_parser_keeps_exactly_the_e164_numbers(text: str, expected: bool) -> None:
    csv_text = f"Number,facebook\n{text},yes\n+41798284652,no\n"
    answers = parse_result_file(csv_text.encode("utf-8"))
    assert set(answers) == ({text, "+41798284652"} if expected else {"+41798284652"})


@pytest.mark.parametrize(("text", "expected"), E164_CASES)
def test_the_client_uploads_exactly_the_e164_numbers(text: str, expected: bool) -> None:
    """Refused numbers raise before any request; accepted ones reach the (closed) port."""
    client = VendorClient(
        base_url="http://127.0.0.1:9", api_key="k", retry=RetryPolicy(max_attempts=1)
    )
    with client:
        if expected:
            with pytest.raises(TransportError):
                client.create_task([text])
        else:
            with pytest.raises(ValueError, match=r"is not E\.164"):
                client.create_task([text])


def test_normalized_numbers_are_e164() -> None:
    for raw in ("+41 79 828 46 51", "0041798284651", "079 828 46 51", "41798284651.0"):
        result = normalize(raw, "CH")
        assert result.e164 is not None
        assert is_e164(result.e164), raw


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cs9viu7i61pkfs4oavvg", True),
        ("A-b_9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("a/b", False),
        ("a b", False),
        ("abc\n", False),
        ("é", False),
    ],
)
def test_task_id(text: str, expected: bool) -> None:
    assert is_task_id(text) is expected
    task = {
        "task_id": text,
        "status": "pending",
        "created_at": "2024-10-19T18:24:56.450567423Z",
        "updated_at": "2024-10-19T18:24:56.450567423Z",
        "total": 0,
        "success": 0,
        "failure": 0,
    }
    if expected:
        assert parse_task(task, method="GET", url="u").task_id == text
    else:
        with pytest.raises(ProtocolError):
            parse_task(task, method="GET", url="u")


def test_emulator_task_ids_pass_the_rule() -> None:
    generator = TaskIdGenerator()
    ids = [generator.next_id(1_729_362_296 + i) for i in range(50)]
    assert all(is_task_id(task_id) for task_id in ids)
    assert TASK_ID_PATTERN == r"[A-Za-z0-9_-]{1,128}"


def test_client_refuses_a_bad_task_id_before_any_request() -> None:
    client = VendorClient(base_url="http://127.0.0.1:9", api_key="k")
    with client, pytest.raises(ValueError, match="not a task id"):
        client.get_task("../admin")


def test_answer_vocabulary() -> None:
    assert ANSWERS == ("yes", "no", "ban")
    assert RESULT_ANSWERS == ("yes", "no", "ban", "error")
    assert OUTCOMES == ("yes", "no", "ban", "invalid", "error")
    assert (ERROR, INVALID) == ("error", "invalid")


def test_the_emulator_answers_in_the_same_vocabulary() -> None:
    """The emulator's pinned answers are the vendor's, plus its own "fail" switch."""
    assert set(FIXTURE_ANSWERS) - {"fail"} == set(ANSWERS)


def test_result_rows_only_carry_result_answers() -> None:
    rows = "Number,facebook\n+41798284651,YES\n+41798284652,No\n+41798284653,ban\n"
    rows += "+41798284654,error\n+41798284655,maybe\n"
    answers = parse_result_file(rows.encode("utf-8"))
    assert [row.answer for row in answers.values()] == ["yes", "no", "ban", "error", "error"]
    assert {row.answer for row in answers.values()} <= set(RESULT_ANSWERS)


def test_package_version_is_the_installed_one() -> None:
    assert package_version() == metadata.version("fbcheck")


def test_package_version_outside_an_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_DISTRIBUTION", "fbcheck-not-installed-anywhere")
    assert package_version() == UNKNOWN_VERSION == "0+unknown"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (None, ""),
        (0, "1970-01-01T00:00:00Z"),
        (1_729_362_296.999, "2024-10-19T18:24:56Z"),
        (dt.datetime(2024, 10, 19, 18, 24, 56, 999_999, tzinfo=dt.UTC), "2024-10-19T18:24:56Z"),
        (dt.datetime(2024, 10, 19, 18, 24, 56), "2024-10-19T18:24:56Z"),
        (
            dt.datetime(2024, 10, 19, 20, 24, 56, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-10-19T18:24:56Z",
        ),
        (dt.datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC), "2024-12-31T23:59:59Z"),
    ],
)
def test_utc_timestamp(moment: float | dt.datetime | None, expected: str) -> None:
    assert utc_timestamp(moment) == expected


def test_utc_timestamp_round_trips_through_fromisoformat() -> None:
    text = utc_timestamp(1_729_362_296)
    assert dt.datetime.fromisoformat(text) == dt.datetime.fromtimestamp(1_729_362_296, dt.UTC)


@pytest.mark.parametrize(
    ("index", "letters"),
    [(0, "A"), (1, "B"), (25, "Z"), (26, "AA"), (27, "AB"), (701, "ZZ"), (702, "AAA")],
)
def test_column_letters(index: int, letters: str) -> None:
    assert column_letters(index) == letters
    assert column_index(letters) == index
    assert column_index(letters.lower()) == index


def test_column_letters_round_trip_to_excels_last_column() -> None:
    assert column_letters(16_383) == "XFD"
    assert all(column_index(column_letters(i)) == i for i in range(16_384))


@pytest.mark.parametrize("letters", ["", "A1", "1", "A B", "É", "$A"])
def test_column_index_refuses_what_is_not_letters(letters: str) -> None:
    with pytest.raises(ValueError, match="column letters"):
        column_index(letters)


def test_column_letters_refuses_a_negative_index() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        column_letters(-1)
