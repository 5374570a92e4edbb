# Reports of a simulation run: a rich KPI table (overall, by skill, optionally by hour) and a
# progress bar. Rules: formatting only (the numbers come from core/kpis.py); rich is imported
# when something is printed, not before; the progress bar is drawn only on a terminal and
# only for long runs, so CI logs and pipes get the final table and nothing else.
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

LONG_RUN_CALLS = 20_000  # below this a run takes a second or two: no bar


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def _signed_secs(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f} s"


def _int(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("offered", "offered", _int),
    ("answered", "answered", _int),
    ("abandoned", "abandoned", _int),
    ("blocked", "blocked", _int),
    ("hung up in IVR", "ivr_abandoned", _int),
    ("P(wait)", "p_wait", _pct),
    ("ASA", "asa_s", _secs),
    ("mean wait", "mean_wait_s", _secs),
    ("SL", "service_level", _pct),
    ("SL2", "sl2", _pct),
    ("AHT", "aht_s", _secs),
    ("abandon", "p_abandon", _pct),
    ("occupancy", "occupancy", _pct),
    ("max calls", "max_concurrent_calls", _int),
    ("called back", "called_back", _int),
    ("EWT error", "ewt_mae_s", _secs),
    ("EWT bias", "ewt_bias_s", _signed_secs),
)
_CALLBACK_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("offered", "offered", _int),
    ("accepted", "accepted", _int),
    ("completed", "completed", _int),
    ("failed", "failed", _int),
    ("expired", "expired", _int),
    ("attempts", "attempts", _int),
    ("request to talk", "mean_delay_s", _secs),
    ("longest", "max_delay_s", _secs),
    ("first queued to talk", "mean_wait_total_s", _secs),
    ("on the phone", "mean_on_phone_s", _secs),
)


def render(
    kpis: dict[str, Any],
    overall_sl2: float | None,
    *,
    title: str,
    by_hour: bool = False,
    footer: str = "",
) -> None:
    """Print the KPI tables to stdout: KPIs as rows, overall and each skill as columns; then,
    if asked, one row per hour of the day."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))  # a pipe gets 80 columns and wraps
    ewt = kpis.get("ewt") or {}
    overall = {**kpis, "sl2": overall_sl2, "ewt_mae_s": ewt.get("mae_s"), "ewt_bias_s": ewt.get("bias_s")}
    groups = [("all", overall), *kpis["by_skill"].items()]
    t = Table(title=title)
    t.add_column("KPI")
    for name, _ in groups:
        t.add_column(name, justify="right", style="bold" if name == "all" else None)
    for head, key, fmt in _COLUMNS:
        t.add_row(head, *(fmt(g.get(key)) for _, g in groups))
    console.print(t)
    if by_hour:
        h = Table(title="by hour of arrival")
        h.add_column("hour")
        for head, _, _ in _COLUMNS:
            h.add_column(head, justify="right")
        for hour, g in kpis["by_hour"].items():
            h.add_row(f"{hour}:00", *(fmt(g.get(key)) for _, key, fmt in _COLUMNS))
        console.print(h)
    callbacks = kpis.get("callbacks") or {}
    if callbacks.get("offered") or callbacks.get("requested"):
        c = Table(title="callbacks (by request; their waits are not in ASA)")
        for head, _, _ in _CALLBACK_COLUMNS:
            c.add_column(head, justify="right")
        c.add_row(*(fmt(callbacks.get(key)) for _, key, fmt in _CALLBACK_COLUMNS))
        console.print(c)
    console.print(
        f"SL: answered within {kpis['sl_threshold_s']:g} s / answered. SL2 also counts abandons"
        " within it as met. P(wait), mean wait, SL2 and abandon: over answered + abandoned"
        " + called back (callers who left their number while waiting); callers who hung up in"
        " the IVR are in none of them. EWT error and bias:"
        " mean |waited - told| and mean (waited - told) over answered callers who were told an"
        f" expected wait; {_pct(ewt.get('abandoned_past_ewt'))} of the"
        f" {_int(ewt.get('abandoned'))} who hung up waiting had waited longer than told.",
        style="dim",
    )
    if footer:
        console.print(footer)


@contextmanager
def progress_bar(
    expected_calls: float, *, force: bool | None = None
) -> Iterator[Callable[[float], None] | None]:
    """Yield a callback taking the share done (0..1), or None when no bar should be drawn."""
    show = sys.stdout.isatty() and expected_calls >= LONG_RUN_CALLS if force is None else force
    if not show:
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=1.0)

        def update(done: float) -> None:
            bar.update(task, completed=done)

        yield update
