"""The pattern cache: phonenumbers answers as with the real ``re`` module, compiling less."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from addin.engine import pattern_cache, phone_validity, phones
from tests.engine import phonenumbers_probe as probe

REPOSITORY = Path(__file__).resolve().parents[2]


def plain_answers(mode: str) -> list[Any]:
    """Return the probe's answers from a process where phonenumbers uses the real ``re``."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.phonenumbers_probe", mode, str(probe.SEED)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[Any] = json.loads(done.stdout)
    return answers


@pytest.fixture(scope="module")
def sample() -> probe.Sample:
    """The seeded global sample (every region, every notation, junk)."""
    return probe.sample()


@pytest.fixture(scope="module")
def library_answers() -> list[Any]:
    """What plain phonenumbers says of the sample."""
    return plain_answers("library")


def test_the_sample_covers_every_region_and_notation(sample: probe.Sample) -> None:
    """Every region phonenumbers knows is in the sample, in each notation, with junk."""
    countries = set()
    for value, _ in sample:
        if isinstance(value, str) and re.fullmatch(r"\+[0-9]+", value):
            try:
                countries.add(phonenumbers.parse(value).country_code)
            except phonenumbers.NumberParseException:
                continue
    assert countries >= set(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    assert any(isinstance(value, float) for value, _ in sample)
    assert any(isinstance(v, str) and v.startswith("00") for v, _ in sample)
    assert any(isinstance(v, str) and v.endswith(".0") for v, _ in sample)
    assert set(probe.JUNK) <= {value for value, _ in sample}
    assert len(sample) > 15_000


def test_phonenumbers_answers_as_without_the_cache(
    sample: probe.Sample, library_answers: list[Any]
) -> None:
    """Parse, validity, regions, types and five formats are identical to plain phonenumbers."""
    assert pattern_cache.installed()
    assert not probe.plain()
    assert probe.library(sample) == library_answers


def test_normalize_answers_as_without_the_cache(sample: probe.Sample) -> None:
    """The normaliser gives the same E.164 or reason for every input with and without it."""
    phones.cache_clear()
    mine = [[r.e164, r.reason] for r in (phones.normalize(v, region) for v, region in sample)]
    assert mine == plain_answers("normalize")
    assert sum(1 for e164, _ in mine if e164) > 5_000


def test_fast_validity_agrees_with_phonenumbers(
    sample: probe.Sample, library_answers: list[Any]
) -> None:
    """phone_validity answers is_valid_number, for a region and region_code_for_number alike."""
    compared = 0
    for answer in library_answers:
        if answer[0] == "error":
            continue
        code, national, zero, zeros, _, valid, where, other, valid_other = answer[:9]
        number = phonenumbers.PhoneNumber(
            country_code=code,
            national_number=national,
            italian_leading_zero=zero,
            number_of_leading_zeros=zeros,
        )
        assert phone_validity.is_valid_number(number) is valid, number
        assert phone_validity.region_code_for_number(number) == where, number
        assert phone_validity.is_valid_number_for_region(number, other) is valid_other, number
        nsn = phonenumbers.national_significant_number(number)
        assert phone_validity.valid_number(code, nsn) is valid, number
        assert phone_validity.valid_in_region(code, nsn, other) is valid_other, number
        compared += 1
    assert compared > 14_000


def test_every_pattern_is_compiled_once(sample: probe.Sample) -> None:
    """A second pass over numbers of every region compiles nothing: the table holds it all."""
    probe.library(sample)
    kept = pattern_cache.kept()
    probe.library(sample)
    assert pattern_cache.kept() == kept
    # re's own cache holds 512; the sample needs several times that.
    assert 4 * 512 > kept > 512
    assert kept < pattern_cache.MAX_PATTERNS


def test_same_pattern_and_flags_give_the_same_object() -> None:
    """The key is (type, pattern, flags), as in re's own cache."""
    compile_ = pattern_cache.compile_kept
    first = compile_(r"\d{3}-kept")
    assert compile_(r"\d{3}-kept") is first
    assert compile_(r"\d{3}-kept", re.IGNORECASE) is not first
    assert compile_(r"\d{3}-kept", re.IGNORECASE).flags & re.IGNORECASE
    assert compile_(rb"\d{3}-kept") is not first
    assert compile_(rb"\d{3}-kept").pattern == rb"\d{3}-kept"


def test_compiled_patterns_and_errors_behave_as_in_re() -> None:
    """A compiled pattern passes through, flags with it and bad patterns are refused alike."""
    compiled = re.compile("abc")
    assert pattern_cache.compile_kept(compiled) is compiled
    with pytest.raises(ValueError, match="flags"):
        pattern_cache.compile_kept(compiled, re.IGNORECASE)
    with pytest.raises(re.error):
        pattern_cache.compile_kept("(unclosed")
    with pytest.raises(TypeError):
        pattern_cache.compile_kept(42)


def test_the_stand_in_offers_re_functions() -> None:
    """match, sub, split... answer as re's, and everything else is re's own."""
    stand_in = vars(phonenumbers.phonenumberutil)["re"]
    assert stand_in is not re
    assert stand_in.sub("[- ]", "", "079 828-46") == "07982846"
    assert stand_in.subn("9", "x", "99") == ("xx", 2)
    assert stand_in.split(r"\D+", "1-2 3") == ["1", "2", "3"]
    assert stand_in.match("a", "ab") is not None
    assert stand_in.fullmatch("a", "ab") is None
    assert stand_in.search("b", "ab") is not None
    assert stand_in.findall(r"\d", "a1b2") == ["1", "2"]
    assert [m.group() for m in stand_in.finditer(r"\d", "1a2")] == ["1", "2"]
    assert stand_in.UNICODE is re.UNICODE
    assert stand_in.escape is re.escape


def test_debug_compiles_are_not_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """re prints a DEBUG compile each time and never caches it; neither does the table."""
    kept = pattern_cache.kept()
    pattern_cache.compile_kept("debugged", re.DEBUG)
    assert pattern_cache.kept() == kept
    assert capsys.readouterr().out


def test_beyond_the_bound_patterns_are_compiled_but_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full table still answers, without growing."""
    monkeypatch.setattr(pattern_cache, "MAX_PATTERNS", pattern_cache.kept())
    compiled = pattern_cache.compile_kept("beyond-the-bound")
    assert compiled.fullmatch("beyond-the-bound")
    assert pattern_cache.kept() == pattern_cache.MAX_PATTERNS


def test_install_is_idempotent_and_uninstall_restores_re() -> None:
    """Installing twice changes nothing; uninstalling gives phonenumbers the real re back."""
    pattern_cache.install()
    stand_in = vars(phonenumbers.phonenumberutil)["re"]
    pattern_cache.install()
    assert vars(phonenumbers.phonenumberutil)["re"] is stand_in
    try:
        pattern_cache.uninstall()
        assert probe.plain()
        assert not pattern_cache.installed()
        assert phonenumbers.is_valid_number(phonenumbers.parse("+41798284651"))
    finally:
        pattern_cache.install()
    assert vars(phonenumbers.phonenumberutil)["re"] is stand_in


@pytest.mark.parametrize("code", [0, 2, 999, 1, 7, 44, 800, 979, 262, 599])
def test_fast_validity_of_odd_country_codes(code: int) -> None:
    """Unknown, shared and non-geographic country codes answer as phonenumbers does."""
    for nsn in ("1", "0", "12345678", "0123456789", "2015550123", "9" * 14):
        number = phonenumbers.PhoneNumber(
            country_code=code,
            national_number=int(nsn),
            italian_leading_zero=nsn.startswith("0") or None,
        )
        plain = phonenumbers.national_significant_number(number)
        assert phone_validity.valid_number(code, plain) is phonenumbers.is_valid_number(number)
        for region in ("US", "CH", "001", None):
            expected = region is not None and phonenumbers.is_valid_number_for_region(
                number, region
            )
            assert phone_validity.valid_in_region(code, plain, region) is expected
