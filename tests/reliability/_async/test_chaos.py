"""Chaos: every event delivered once, in order, through random faults (fixed CI seeds).

Runs of 5,000 events are appended while they are read; see ``tests/reliability/chaos.py`` for
the faults. The cut scenario reads them through a proxy cutting every connection after
1.5-40 KB, often inside a 100-event page. The longer soak run is ``nox -s soak``.
"""

from __future__ import annotations

import pytest

from tests.reliability._async.harness import run_chaos, run_crash_resume, run_cuts
from tests.reliability.chaos import CI_SEEDS, EVENTS, MODES, Mode

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("seed", CI_SEEDS)
@pytest.mark.parametrize("mode", MODES)
async def test_chaos_delivers_every_event_in_order(mode: Mode, seed: int) -> None:
    result = await run_chaos(mode, seed)
    assert result.violations == []
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.out_of_order == 0
    if mode != "events":
        assert result.delivered == result.expected == EVENTS + 2
    assert result.faults_total >= 5, result.faults  # the faults really happened


@pytest.mark.parametrize("seed", CI_SEEDS)
@pytest.mark.parametrize("mode", ["long-poll", "sse"])
async def test_crash_and_resume_from_the_saved_offset(mode: Mode, seed: int) -> None:
    result = await run_crash_resume(mode, seed)
    assert result.violations == []
    assert result.lost == 0
    assert result.out_of_order == 0
    assert result.duplicates == result.redelivered_expected
    assert result.resumes >= 3


@pytest.mark.parametrize("seed", CI_SEEDS)
@pytest.mark.parametrize("mode", MODES)
async def test_cuts_inside_a_page_lose_nothing_and_never_give_up(mode: Mode, seed: int) -> None:
    result = await run_cuts(mode, seed)
    assert result.violations == []
    assert result.give_ups == 0
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.out_of_order == 0
    assert result.delivered == result.expected == EVENTS + 2
    assert result.faults_total >= 20, result.faults  # ~1 MB through cuts of at most 40 KB
