# Callback numbers: what parses to which E.164, what is refused and why, the duplicate key,
# and (Hypothesis) that no text at all gets through as anything but '+' and 7 to 15 digits:
# the result goes into AMI headers, so a CR/LF or any other character must never survive.
from __future__ import annotations

import logging
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contactcenter.numbers import (
    BadNumber,
    CallbackNumber,
    as_dialled,
    is_withheld,
    number_key,
    parse_callback_number,
)

SECRET = b"0123456789abcdef-test-secret"
AMI_SAFE = re.compile(r"\+[1-9][0-9]{6,14}")


def parse(raw: str, region: str = "ES") -> CallbackNumber:
    return parse_callback_number(raw, region, secret=SECRET)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("612345678", "+34612345678"),  # mobile
        ("712345678", "+34712345678"),  # mobile (71-74)
        ("932123456", "+34932123456"),  # Barcelona fixed
        ("912345678", "+34912345678"),  # Madrid fixed
        ("872123456", "+34872123456"),  # Girona fixed (8xx)
        ("+34612345678", "+34612345678"),
        ("0034612345678", "+34612345678"),
        ("34612345678", "+34612345678"),  # a trunk's caller ID without '+'
        ("612345678#", "+34612345678"),  # keyed, ended with '#'
        (" 932123456\t", "+34932123456"),  # surrounding spaces and tabs only
        ("900123456", "+34900123456"),  # toll-free: costs us nothing more
        ("510123456", "+34510123456"),  # UAN (corporate, ordinary rates)
        ("+447911123456", "+447911123456"),
        ("00447911123456", "+447911123456"),
        ("+33612345678", "+33612345678"),
        ("+12025550123", "+12025550123"),
    ],
)
def test_valid_numbers_give_their_e164(raw: str, e164: str) -> None:
    assert parse(raw).e164 == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("anonymous", "withheld"),
        ("Anonymous", "withheld"),
        ("<unknown>", "withheld"),
        ("restricted", "withheld"),
        ("600000000\r\nAction: Originate", "not-digits"),
        ("600000000\nAction: Originate", "not-digits"),
        ("600000000\r\n", "not-digits"),  # never cleaned: only spaces and tabs are stripped
        ("6000\x0000000", "not-digits"),
        ("600000000&Channel=Local/1@x", "not-digits"),
        ("600000000,1", "not-digits"),
        ("600 000 000", "not-digits"),
        ("+34-600-000-000", "not-digits"),
        ("+612345678#", "not-digits"),  # '#' ends keyed digits, and a keypad has no '+'
        ("٦١٢٣٤٥٦٧٨", "not-digits"),  # digits, but not ASCII ones
        ("６１２３４５６７８", "not-digits"),
        ("12345678901234567890", "too-long"),
        ("+1234567890123456", "too-long"),
        ("112", "emergency"),
        ("091", "emergency"),
        ("092", "emergency"),
        ("061", "emergency"),
        ("080", "emergency"),
        ("062", "emergency"),
        ("016", "emergency"),
        ("+34112", "emergency"),
        ("+44999", "emergency"),
        ("11822", "premium"),
        ("11818", "premium"),
        ("803123456", "premium"),
        ("806123456", "premium"),
        ("807123456", "premium"),
        ("905123456", "premium"),
        ("901123456", "premium"),  # shared cost
        ("902123456", "premium"),
        ("700123456", "premium"),  # personal numbering
        ("+449012345678", "premium"),
        ("010", "invalid"),  # a short number that is no emergency: the line itself
        ("612", "invalid"),
        ("590123456", "invalid"),  # no such Spanish range
        ("+0612345678", "invalid"),
        ("00", "invalid"),
    ],
)
def test_refused_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(BadNumber) as refused:
        parse(raw)
    assert refused.value.reason == reason
    assert str(refused.value) == f"callback number refused: {reason}"  # never the number


def test_the_key_is_the_same_for_one_number_in_every_form_and_differs_between_numbers() -> None:
    forms = ["612345678", "+34612345678", "0034612345678", "34612345678", "612345678#"]
    assert len({parse(raw).key for raw in forms}) == 1
    assert parse("612345678").key != parse("612345679").key
    assert parse("612345678").key != parse("+33612345678").key
    assert parse("612345678").key == number_key("+34612345678", SECRET)
    other = parse_callback_number("612345678", secret=b"another secret of 16+ bytes")
    assert other.key != parse("612345678").key  # keyed by the secret: not a plain hash
    assert "612345678" not in parse("612345678").key


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        parse_callback_number("612345678", secret=b"short")


@pytest.mark.parametrize(
    ("caller_id", "withheld"),
    [
        (None, True),
        ("", True),
        ("anonymous", True),
        ("Anonymous", True),
        ("<unknown>", True),
        ("unknown", True),
        ("Restricted", True),
        ("612345678", False),
        ("+34612345678", False),
    ],
)
def test_withheld_caller_ids(caller_id: str | None, withheld: bool) -> None:
    assert is_withheld(caller_id) is withheld


def test_numbers_are_masked_in_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    number = parse("612345678")
    assert "612345678" not in repr(number)
    with caplog.at_level(logging.DEBUG, logger="contactcenter.numbers"):
        for raw in ("806123456", "806123456\r\nAction: Originate"):
            with pytest.raises(BadNumber):
                parse(raw)
    assert "806123456" not in caplog.text
    assert "Action" not in caplog.text and len(caplog.records) == 2


def test_a_callback_number_cannot_be_built_unsafe() -> None:
    with pytest.raises(ValueError, match="7 to 15 digits"):
        CallbackNumber(e164="+34612345678\r\n", key="k")


digits = st.from_regex(r"\A(\+|00)?[0-9]{0,18}#?\Z")
spanish = st.from_regex(r"\A(\+34|0034)?[5-9][0-9]{8}\Z")
hostile = st.builds(
    "".join,
    st.lists(st.sampled_from(["6", "0", "+", "#", "\r", "\n", "\x00", "&", ",", " ", "a", "٣", "34"])),
)


@given(st.one_of(st.text(), digits, spanish, hostile))
@example("600000000\r\nAction: Originate")
@example("+" + "9" * 15)
def test_any_text_gives_an_ami_safe_number_or_bad_number(raw: str) -> None:
    try:
        number = parse(raw)
    except BadNumber as refused:
        assert refused.reason in {
            "empty",
            "withheld",
            "not-digits",
            "too-long",
            "emergency",
            "premium",
            "not-callable",
            "invalid",
        }
    else:
        assert AMI_SAFE.fullmatch(number.e164)


@pytest.mark.parametrize(
    ("e164", "number_format", "prefix", "dialled"),
    [
        ("+34600123456", "e164", "", "+34600123456"),
        ("+34600123456", "national", "", "600123456"),  # at home: the national number
        ("+34932563400", "national", "0", "0932563400"),  # an outside line first
        ("+447700900123", "national", "", "00447700900123"),  # abroad: 00 and the country
    ],
)
def test_a_number_as_the_gateway_wants_it(e164: str, number_format: str, prefix: str, dialled: str) -> None:
    assert as_dialled(e164, number_format, prefix) == dialled


@pytest.mark.parametrize(
    ("e164", "number_format", "prefix"),
    [
        ("600123456", "e164", ""),  # not E.164
        ("+34600123456\r\n", "e164", ""),  # a line break
        ("+34600123456", "sip", ""),  # no such format
        ("+34600123456", "e164", "9&"),  # a prefix that is not digits
    ],
)
def test_as_dialled_refuses_what_is_not_a_checked_number(e164: str, number_format: str, prefix: str) -> None:
    with pytest.raises(ValueError):
        as_dialled(e164, number_format, prefix)
