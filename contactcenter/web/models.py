# The API's bodies, as pydantic models: they validate what comes in (a bad value is a 422
# naming the field) and document what goes out (the OpenAPI document at /openapi.json).
# Rules: every request body forbids unknown fields; every response the API sends is one of
# these shapes (schemathesis checks it against the document).
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

Skills = dict[str, StrictInt]  # skill -> level (1 = best)
OperatorStateName = Literal[
    "logged_out", "available", "reserved", "talking", "wrap_up", "paused", "unreachable"
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    skills: Skills | None = Field(default=None, description="skills to log in with; none: the current ones")


class ReadyIn(_In):
    pass


class PauseIn(_In):
    reason: str = Field(description="a pause reason code (GET /api/codes)", max_length=64)
    after_call: StrictBool = Field(
        default=False,
        description="wanted after the call in hand (a pause asked on a call always waits for its end)",
    )


class LogoutIn(_In):
    after_call: StrictBool = False


class WrapUpIn(_In):
    disposition: str = Field(description="a disposition code (GET /api/codes)", max_length=64)


class SkillsIn(_In):
    skills: Skills


class MonitorIn(_In):
    mode: Literal["listen", "whisper", "barge"]


class MoveIn(_In):
    skill: str = Field(max_length=64)
    language: str | None = Field(default=None, max_length=16)


class BookIn(_In):
    number: str = Field(description="the citizen's phone number", max_length=32)
    skill: str = Field(max_length=64)
    language: str = Field(max_length=16)
    at: str = Field(description="ISO date-time of the slot's start (GET /api/callbacks/slots)", max_length=64)


class Problem(BaseModel):
    detail: str


class Operator(BaseModel):
    id: str
    name: str
    state: OperatorStateName
    since_s: float
    reason: str | None
    skills: dict[str, int]
    languages: list[str]
    after_call: Literal["pause", "log_out"] | None


class Code(BaseModel):
    code: str
    names: dict[str, str]


class Codes(BaseModel):
    pause_reasons: list[Code]
    dispositions: list[Code]


class CallPop(BaseModel):
    call_id: str
    kind: Literal["inbound", "callback"]
    skill: str | None
    names: dict[str, str]
    language: str | None
    ivr_path: list[str]
    wait_s: float
    number: str = Field(description="masked")
    calls_7d: int | None = Field(
        description="earlier calls from this number in the last 7 days (None: withheld)"
    )
    state: str


class SkillName(BaseModel):
    skill: str
    names: dict[str, str]


class Console(BaseModel):
    at: str
    operator: Operator
    call: CallPop | None
    last_call: CallPop | None
    pause_reasons: list[Code]
    dispositions: list[Code]
    skills_all: list[SkillName]


class Lines(BaseModel):
    in_use: int
    capacity: int
    level: Literal["ok", "amber", "red"]


class SkillOperators(BaseModel):
    available: int
    reserved: int
    talking: int
    wrap_up: int
    paused: int
    unreachable: int


class SkillTile(BaseModel):
    skill: str
    names: dict[str, str]
    waiting: int
    longest_wait_s: float
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    offered: int
    answered: int
    operators: SkillOperators
    callbacks_pending: int
    levels: dict[str, Literal["ok", "amber", "red"]]


class Centre(BaseModel):
    at: str
    centre: str
    lines: Lines
    in_ivr: int
    ami_connected: bool
    skills: list[SkillTile]
    operators: list[Operator]
    pause_reasons: list[Code]
    dispositions: list[Code]
    skills_all: list[SkillName]
    languages_all: list[str]


class WaitingCall(BaseModel):
    call_id: str
    skill: str | None
    language: str | None
    wait_s: float
    position: int
    kind: Literal["inbound", "callback"]


class Slot(BaseModel):
    start: str
    end: str
    free: int


class Booked(BaseModel):
    callback_id: str
    at: str


class Me(BaseModel):
    role: Literal["supervisor", "operator", "viewer"]
    id: str
    name: str


class Accepted(BaseModel):
    detail: str


class AuditEntry(BaseModel):
    at: str
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, object]
