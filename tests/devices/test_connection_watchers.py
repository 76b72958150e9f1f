"""Backends that die in the garbage collector never break another backend's connect.

caproto keeps each connection callback by a weak reference whose finaliser removes it from the PV's
callback dict. A backend that dies in a reference cycle is collected whenever the collector runs,
which can be while caproto copies that dict (in the connect of another backend of the same PV): the
removal then changes the dict under the copy ("dictionary changed size during iteration"; seen once
in CI; the collector cannot be made to run at that point on purpose). The context now owns the one
callback per PV and keeps the backends weakly itself, so no backend callback is ever removed.
"""

from __future__ import annotations

import gc

from acq.devices.backends import CABackend
from acq.loop import call_in_loop
from scenarios.twin_process import TwinProcess

PV = "BT:sc1.TP"


def _connect_in_a_cycle() -> CABackend:
    backend = CABackend(PV)
    backend.cycle = backend  # type: ignore[attr-defined]  # collected by the collector, not by refcount
    call_in_loop(backend.connect(5.0))
    return backend


def test_a_pv_has_one_connection_callback_however_many_backends_watch_it(twin: TwinProcess) -> None:
    backends = [_connect_in_a_cycle() for _ in range(5)]
    pv = backends[0]._pv
    assert all(b._pv is pv for b in backends)
    assert len(pv.connection_state_callback.callbacks) == 1
    del backends
    gc.collect()
    later = _connect_in_a_cycle()
    assert later._pv is pv and later.connected and len(pv.connection_state_callback.callbacks) == 1
