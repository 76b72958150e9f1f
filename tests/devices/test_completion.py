"""``complete_within``: the deadline, the one extension a re-check may grant, and the error."""

from __future__ import annotations

import asyncio

import pytest

from acq.devices import PutTimeout
from acq.devices.completion import complete_within, deadline
from acq.loop import call_in_loop


async def _done_after(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


def _run(operation_s: float, timeout: float, recheck: object = None) -> str:
    async def go() -> str:
        return str(await complete_within(_done_after(operation_s), timeout, device="dev", pv="ca://X:Y",
                                         value=3, what="the move to 3", recheck=recheck))  # type: ignore[arg-type]

    return str(call_in_loop(go()))


def test_an_operation_within_its_deadline_returns_its_result() -> None:
    assert _run(0.05, 5.0) == "done"


def test_a_late_operation_fails_naming_device_pv_value_and_deadline() -> None:
    with pytest.raises(PutTimeout, match=r"dev: the move to 3 \(ca://X:Y\) did not finish within 0\.2 s") as err:
        _run(5.0, 0.2)
    assert (err.value.device, err.value.pv, err.value.value, err.value.timeout) == ("dev", "ca://X:Y", 3, 0.2)


def test_a_recheck_may_extend_the_deadline_once() -> None:
    async def longer() -> float:
        return 5.0

    assert _run(0.4, 0.1, longer) == "done"


def test_a_recheck_that_cannot_read_gives_no_extension_and_is_the_cause() -> None:
    async def unreadable() -> float:
        raise ConnectionError("PV X:VELO: read failed")

    with pytest.raises(PutTimeout) as err:
        _run(5.0, 0.1, unreadable)
    assert isinstance(err.value.__cause__, ConnectionError)


def test_deadlines_have_a_floor_unless_the_margin_is_smaller() -> None:
    assert deadline(0.1, 10.0) == pytest.approx(10.1)
    assert deadline(0.0, 1.0) == 1.0  # an explicit small margin is honoured
    assert deadline(30.0, 10.0) == 40.0
