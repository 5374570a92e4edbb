# Callback numbers: what a citizen gives us to be called back on. Rules:
# - An allow-list, never a clean-up: the text is a leading '+' and ASCII digits, or digits
#   keyed on a phone (a trailing '#' allowed); only surrounding spaces and tabs are
#   stripped. A CR, LF, NUL, '&', ',' or space inside is refused (BadNumber "not-digits"),
#   because whatever a caller ID carries could otherwise reach an AMI header.
# - phonenumbers decides validity (Spanish numbering by default; '+' and '00' for any
#   country). What comes out is rebuilt by phonenumbers as E.164 and checked against
#   E164_PATTERN, so it is safe in an AMI header: `+`, then 7 to 15 digits.
# - Never called back: emergency and crisis lines and every other short number, premium or
#   extra-cost numbers (premium rate, shared cost, personal numbering; Spain's 803/806/807,
#   905/907 and 118xx directory enquiries even where phonenumbers' data lags), and types
#   that are not a person's line (pager, voicemail access). Callable: fixed, mobile, fixed
#   or mobile, VoIP, UAN (Spain's 51: corporate numbers at ordinary rates) and toll-free.
# - A refusal carries a short machine reason (REASONS) and never the number: callers log
#   exceptions. Logs here show numbers only through privacy.mask_number.
# - The key finds duplicates without keeping the number: HMAC-SHA256 of the E.164 under the
#   centre's secret. A plain hash would not do: Spain has about 10^9 numbers, all hashed in
#   minutes. The same secret must be used for as long as open callbacks are merged.
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

from contactcenter.privacy import mask_number

log = logging.getLogger("contactcenter.numbers")

E164_PATTERN: Final = re.compile(r"\+[1-9][0-9]{6,14}")  # the whole value, with fullmatch
MAX_DIGITS: Final = 15  # E.164: country code and national number together
MIN_SECRET_BYTES: Final = 16

REASONS: Final = frozenset(
    {"empty", "withheld", "not-digits", "too-long", "emergency", "premium", "not-callable", "invalid"}
)

# What Asterisk (and the carriers behind it) put in CALLERID(num) when the caller hides it;
# AMI shows an unset caller ID as "<unknown>". Compared without case.
WITHHELD: Final = frozenset(
    {"", "anonymous", "<unknown>", "unknown", "restricted", "private", "withheld", "unavailable"}
)

# Caller IDs arrive with '+'; keyed digits and national numbers without. A '#' ends keyed digits.
_TEXT: Final = re.compile(r"\+[0-9]+|[0-9]+#?")

_CALLABLE: Final = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
        PhoneNumberType.UAN,
        PhoneNumberType.TOLL_FREE,
    }
)
# They cost the centre more than an ordinary call, often to a third party's profit.
_COSTLY: Final = frozenset(
    {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.PERSONAL_NUMBER}
)
# Spanish ranges refused as premium whatever phonenumbers' metadata says of them (it calls
# 905 numbers invalid, and 118xx are short numbers): national significant number prefixes.
_SPANISH_PREMIUM: Final = ("803", "806", "807", "905", "907", "118")
# Spanish emergency and crisis lines that phonenumbers' emergency list (112, 085, 088) leaves
# out: police, local police, health, fire, Guardia Civil, gender violence, suicide prevention.
_SPANISH_EMERGENCY: Final = frozenset({"091", "092", "061", "080", "062", "016", "024"})


class BadNumber(ValueError):
    """A number we will not call back; `reason` is one of REASONS. The message never
    contains the number."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown BadNumber reason {reason!r}")
        super().__init__(f"callback number refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CallbackNumber:
    """A number we may call back: `e164` goes into the Originate, `key` finds duplicates."""

    e164: str
    key: str

    def __post_init__(self) -> None:
        if not (type(self.e164) is str and E164_PATTERN.fullmatch(self.e164)):
            raise ValueError("a CallbackNumber's e164 must be '+' and 7 to 15 digits")
        if not (type(self.key) is str and self.key):
            raise ValueError("a CallbackNumber needs its key")

    def __repr__(self) -> str:  # masked: a repr ends up in logs and tracebacks
        return f"CallbackNumber({mask_number(self.e164)})"


def is_withheld(caller_id: str | None) -> bool:
    """True when a caller ID says the number was withheld (or there is none)."""
    return caller_id is None or caller_id.strip(" \t").lower() in WITHHELD


def number_key(e164: str, secret: bytes) -> str:
    """The stable, non-reversible key of an E.164 number: HMAC-SHA256 under `secret`, hex."""
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the callback number secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.new(secret, e164.encode("ascii"), hashlib.sha256).hexdigest()


def parse_callback_number(raw: str, region: str = "ES", *, secret: bytes) -> CallbackNumber:
    """The number to call back for a caller ID or keyed digits, or BadNumber with its reason.

    `region` is the numbering plan of numbers given without '+' or '00' (Spain's by
    default). `secret` keys the duplicate-finding key (see number_key)."""
    try:
        e164 = _e164(raw, region)
    except BadNumber as refused:
        log.debug("callback number %s refused: %s", _shown(raw), refused.reason)
        raise
    return CallbackNumber(e164=e164, key=number_key(e164, secret))


def _e164(raw: str, region: str) -> str:
    text = raw.strip(" \t")
    if not text:
        raise BadNumber("empty")
    if is_withheld(text):
        raise BadNumber("withheld")
    if not _TEXT.fullmatch(text):
        raise BadNumber("not-digits")
    digits = text.removesuffix("#")
    international = digits.removeprefix("+") if digits[0] == "+" else digits.removeprefix("00")
    if len(international) > MAX_DIGITS:
        raise BadNumber("too-long")
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        raise BadNumber("invalid") from None
    national = phonenumbers.national_significant_number(number)
    # A region's emergency numbers as dialled there (phonenumbers parses "112" in Spain as
    # +34 112, a short number, never a valid one).
    country = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if shortnumberinfo.is_emergency_number(national, country) or (
        country == "ES" and national in _SPANISH_EMERGENCY
    ):
        raise BadNumber("emergency")
    if country == "ES" and national.startswith(_SPANISH_PREMIUM):
        raise BadNumber("premium")
    if not phonenumbers.is_valid_number(number):
        if shortnumberinfo.is_valid_short_number(number) and (
            shortnumberinfo.expected_cost(number) == phonenumbers.ShortNumberCost.PREMIUM_RATE
        ):
            raise BadNumber("premium")
        raise BadNumber("invalid")  # any other short number (010 itself) among them
    kind = phonenumbers.number_type(number)
    if kind in _COSTLY:
        raise BadNumber("premium")
    if kind not in _CALLABLE:
        raise BadNumber("not-callable")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Checked, not asserted (python -O drops asserts): this string goes into AMI headers.
    if not E164_PATTERN.fullmatch(e164):
        raise BadNumber("invalid")
    return e164


def _shown(raw: str) -> str:
    # mask_number keeps what is not a digit: a CR/LF would forge a log line. Digits only.
    text = raw.strip(" \t")
    return mask_number(text) if _TEXT.fullmatch(text) else f"<{len(raw)} characters>"


def as_dialled(e164: str, number_format: str, prefix: str = "", region: str = "ES") -> str:
    """What a gateway is sent for `e164`: the E.164 itself ("e164"), or the number as dialled
    in `region` ("national": its national number at home, "00" and the country code for one
    abroad), after `prefix` (an outside line's digit, say). Only digits and a leading '+'
    come out, so the result is as safe in a dial string as the E.164 it came from."""
    if not (type(e164) is str and E164_PATTERN.fullmatch(e164)):
        raise ValueError("as_dialled needs an E.164 number")
    if not re.fullmatch(r"[0-9]*", prefix):
        raise ValueError("a dial prefix is digits only")
    if number_format == "e164":
        return prefix + e164
    if number_format != "national":
        raise ValueError(f"number_format must be e164 or national, got {number_format!r}")
    number = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_country_code(number.country_code or 0) == region:
        return prefix + phonenumbers.national_significant_number(number)
    return prefix + "00" + e164.removeprefix("+")
