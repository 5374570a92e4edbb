# The closed forms themselves, against published figures and their own identities.
from __future__ import annotations

import math

import pytest

from contactcenter.sim.erlang import ErlangA, ErlangC, erlang_b, erlang_c


def test_erlang_b_small_cases_by_hand() -> None:
    assert erlang_b(1.0, 1) == pytest.approx(1 / 2)  # A / (1 + A)
    assert erlang_b(2.0, 2) == pytest.approx(2 / 5)  # (A^2/2) / (1 + A + A^2/2)
    assert erlang_b(5.0, 0) == 1.0


def test_erlang_c_by_hand_and_at_scale() -> None:
    # N = 2, A = 1: C = (A^2/2 * 2/(2-1)) / (1 + A + A^2/2 * 2/(2-1)) = 1/3
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3)
    assert erlang_c(10.0, 10) == 1.0  # unstable: everyone waits
    # hundreds of operators: no overflow, and a value between 0 and 1
    assert 0.0 < erlang_c(480.0, 500) < 1.0


def test_erlang_c_matches_the_pyworkforce_readme_table() -> None:
    # pyworkforce README: 100 transactions per 30 min, AHT 3 min, ASA 20 s -> 14 positions
    # with service_level 0.8884, occupancy 0.7143, waiting_probability 0.1741.
    e = ErlangC(rate_per_s=100 / 1800, aht_s=180, n=14)
    assert (round(e.service_level(20), 4), round(e.occupancy, 4), round(e.p_wait, 4)) == (
        0.8884,
        0.7143,
        0.1741,
    )
    # ASA = C x AHT / (N - A)
    assert e.asa_s == pytest.approx(e.p_wait * 180 / 4)


def test_erlang_a_tends_to_erlang_c_with_infinite_patience() -> None:
    a = ErlangA.solve(100 / 1800, 180, 12, patience_s=1e9)
    c = ErlangC(100 / 1800, 180, 12)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.mean_wait_s == pytest.approx(c.asa_s, rel=1e-5)
    assert a.p_abandon < 1e-6


@pytest.mark.parametrize(
    ("rate", "n", "patience"), [(1000 / 3600, 50, 180.0), (200 / 3600, 13, 300.0), (0.5, 60, 30.0)]
)
def test_erlang_a_flow_balance(rate: float, n: int, patience: float) -> None:
    """Calls served per second = busy operators / AHT: an identity the solver does not use
    (it computes E[busy] and E[queue] separately from the stationary distribution)."""
    a = ErlangA.solve(rate, 180, n, patience)
    assert rate * (1 - a.p_abandon) == pytest.approx(a.mean_busy / 180, rel=1e-9)
    assert 0 < a.p_abandon < a.p_wait < 1
    assert a.occupancy <= 1


def test_erlang_a_pyworkforce_readme_example_is_close() -> None:
    # pyworkforce README, ErlangA(transactions=100, aht=3, interval=30, patience=5): 13
    # positions, abandonment 0.0253, waiting 0.2265, occupancy 0.7500. Its code solves the
    # same birth-death chain, yet the published P(wait) and P(abandon) differ from this
    # solution in the third digit (0.2258, 0.0250; cause unknown here, perhaps an earlier
    # version's truncation): a sanity check, not a reference.
    a = ErlangA.solve(100 / 1800, 180, 13, 300)
    assert a.occupancy == pytest.approx(0.7500, abs=5e-5)
    assert a.p_abandon == pytest.approx(0.0253, rel=0.02)
    assert a.p_wait == pytest.approx(0.2265, rel=0.005)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ErlangA.solve(1.0, 180, 0, 60)
    with pytest.raises(ValueError):
        erlang_b(-1.0, 3)
    assert ErlangC(1.0, 180, 100).asa_s == math.inf
