"""``phonenumbers.is_valid_number`` with one regular expression per region and length.

``phonenumbers`` decides validity in ``_number_type_helper``: the national significant
number must match the region's general description and then one of its number types
(premium rate, toll free, shared cost, VoIP, personal, pager, UAN, voicemail, fixed
line, mobile), each tried in turn through several layers of calls; a description
whose possible lengths are listed and exclude the number's length does not match.
That is about 15 µs a number, the largest part of normalising one.

Here the same rule is one pattern per (region, length): the alternation of the
patterns of the number types that allow that length, matched whole. A whole-string
match of an alternation succeeds exactly when one alternative matches the whole
string (the metadata patterns use no backreferences or inline flags, which could
tell them apart), so the answer is the library's, in a few microseconds. Mobile
joins the alternation only when its pattern differs from fixed line's, as in the
library. The choice of region for a country code shared by several regions
(``region_code_for_number``: leading digits, else the first region the number is
valid in) and the country-code checks of ``is_valid_number_for_region`` are the
library's, step for step. Tests compare every answer with ``phonenumbers``' own over
numbers of every region.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberDesc,
    country_code_for_valid_region,
    national_significant_number,
)

from addin.engine import pattern_cache

__all__ = [
    "is_valid_number",
    "is_valid_number_for_region",
    "region_code_for_number",
    "valid_in_region",
    "valid_number",
]

# The number types in the order phonenumbers tries them (order does not change the answer).
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class _Rules:
    """The validity patterns of one region's metadata, built as lengths are met."""

    __slots__ = ("_descs", "_general", "_general_lengths", "_lock", "by_length")

    def __init__(self, metadata: PhoneMetadata) -> None:
        """Keep the general pattern and every number type that can match."""
        general = metadata.general_desc
        self._general = _pattern_of(general)
        self._general_lengths = _lengths_of(general)
        descs = [getattr(metadata, name) for name in _TYPES]
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        self._descs = [
            (_lengths_of(desc), pattern)
            for desc in descs
            if desc is not None and (pattern := _pattern_text(desc))
        ]
        self._lock = threading.Lock()
        #: The compiled alternation for each length met (None: no type allows it).
        self.by_length: dict[int, re.Pattern[str] | None] = {}

    def valid(self, nsn: str) -> bool:
        """Return True when the national significant number is of some type of the region."""
        general = self._general
        length = len(nsn)
        if general is None or (self._general_lengths and length not in self._general_lengths):
            return False
        if general.fullmatch(nsn) is None:
            return False
        try:
            types = self.by_length[length]
        except KeyError:
            types = self._build(length)
        return types is not None and types.fullmatch(nsn) is not None

    def _build(self, length: int) -> re.Pattern[str] | None:
        """Compile the alternation of the types that allow ``length``."""
        patterns = [pattern for lengths, pattern in self._descs if not lengths or length in lengths]
        compiled = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        with self._lock:
            return self.by_length.setdefault(length, compiled)


_rules: dict[tuple[str | None, int | None], _Rules] = {}
_rules_lock = threading.Lock()


def _rules_of(metadata: PhoneMetadata) -> _Rules:
    """Return the rules of a region's metadata (built once)."""
    key = (metadata.id, metadata.country_code)
    rules = _rules.get(key)
    if rules is None:
        with _rules_lock:
            rules = _rules.setdefault(key, _Rules(metadata))
    return rules


def _pattern_text(desc: PhoneNumberDesc | None) -> str | None:
    """Return a description's pattern, or None when it has none (it then never matches)."""
    if desc is None or not desc.national_number_pattern:
        return None
    pattern: str = desc.national_number_pattern
    return pattern


def _pattern_of(desc: PhoneNumberDesc | None) -> re.Pattern[str] | None:
    """Return a description's compiled pattern, or None."""
    text = _pattern_text(desc)
    return None if text is None else pattern_cache.compile_kept(text)


def _lengths_of(desc: PhoneNumberDesc | None) -> frozenset[int]:
    """Return a description's possible lengths (empty: not listed, any length)."""
    if desc is None or not desc.possible_length:
        return frozenset()
    return frozenset(desc.possible_length)


def is_valid_number_for_region(number: PhoneNumber, region_code: str | None) -> bool:
    """Return ``phonenumbers.is_valid_number_for_region(number, region_code)``."""
    return valid_in_region(
        number.country_code or 0, national_significant_number(number), region_code
    )


def is_valid_number(number: PhoneNumber) -> bool:
    """Return ``phonenumbers.is_valid_number(number)``."""
    return valid_number(number.country_code or 0, national_significant_number(number))


def valid_in_region(country_code: int, nsn: str, region_code: str | None) -> bool:
    """Return ``is_valid_number_for_region`` of the number with these parts.

    ``nsn`` is the national significant number as phonenumbers writes it (its leading
    zeros included), so no ``PhoneNumber`` needs to be built.
    """
    if region_code is None:
        return False
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region_code.upper())
    if metadata is None or (
        region_code != REGION_CODE_FOR_NON_GEO_ENTITY
        and country_code != country_code_for_valid_region(region_code)
    ):
        return False
    return _rules_of(metadata).valid(nsn)


def valid_number(country_code: int, nsn: str) -> bool:
    """Return ``is_valid_number`` of the number with these parts (see ``valid_in_region``)."""
    found = _plans.get(country_code, _UNKNOWN)
    plan: _Plan = _plan_of(country_code) if found is _UNKNOWN else found
    if isinstance(plan, _Rules):  # one region, or none (then no rules: never valid)
        return plan.valid(nsn)
    if plan is None:
        return False
    # Several regions: the first whose leading digits match, or else the first the
    # number is valid in, is its region (region_code_for_number); it must be valid there.
    for leading, rules, allowed in plan:
        if leading is not None:
            if leading.match(nsn):
                return allowed and rules.valid(nsn)
        elif rules.valid(nsn):
            return allowed
    return False


#: How validity is decided per country code: the one region's rules, None (never
#: valid), or its regions in phonenumbers' order as (leading digits, rules, whether
#: ``is_valid_number_for_region`` accepts the country code there).
_Plan = _Rules | tuple[tuple[re.Pattern[str] | None, _Rules, bool], ...] | None
_plans: dict[int, _Plan] = {}
_UNKNOWN: Any = object()


def _plan_of(country_code: int) -> _Plan:
    """Return (and keep) how validity is decided for a country code."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    plan: _Plan = None
    if regions is not None and len(regions) == 1:
        plan = _region_rules(country_code, regions[0])
    elif regions is not None:
        entries = []
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue
            leading = metadata.leading_digits
            compiled = None if leading is None else pattern_cache.compile_kept(leading)
            allowed = _region_rules(country_code, region) is not None
            entries.append((compiled, _rules_of(metadata), allowed))
        plan = tuple(entries)
    with _rules_lock:
        return _plans.setdefault(country_code, plan)


def _region_rules(country_code: int, region_code: str) -> _Rules | None:
    """Return the rules ``is_valid_number_for_region`` applies, or None: never valid there."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region_code.upper())
    if metadata is None or (
        region_code != REGION_CODE_FOR_NON_GEO_ENTITY
        and country_code != country_code_for_valid_region(region_code)
    ):
        return None
    return _rules_of(metadata)


def region_code_for_number(number: PhoneNumber) -> str | None:
    """Return ``phonenumbers.region_code_for_number(number)``."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0)
    if regions is None:
        return None
    if len(regions) == 1:
        region: str = regions[0]
        return region
    nsn = national_significant_number(number)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if pattern_cache.compile_kept(metadata.leading_digits).match(nsn):
                return region
        elif _rules_of(metadata).valid(nsn):
            return region
    return None
