"""The area detector's staging, triggering and stream asset documents.

The twin's camera IOC lands on another branch; until then a small soft stand-in plays the
IOC's part (Acquire stores one frame, Capture opens a file) so that the device's own logic
and its documents are tested, on our engine's document rules and on Bluesky's RunEngine.
"""

from __future__ import annotations

from typing import Any

import pytest

from acq.devices import AreaDetector, SoftBackend
from acq.loop import call_in_loop


class SoftCamera:
    """Soft backends for every camera PV, wired like the IOC: acquire → one stored frame."""

    def __init__(self) -> None:
        self.pvs: dict[str, SoftBackend] = {}

    def __call__(self, pv: str) -> SoftBackend:
        field = pv.rsplit(":", 1)[-1]
        initial: Any = {"SizeX_RBV": 8, "SizeY_RBV": 6, "FullFileName_RBV": "", "FilePath": "",
                        "FileName": "", "FileTemplate": ""}.get(field, 0)
        self.pvs[field] = SoftBackend(initial, source=f"soft://{pv}")
        return self.pvs[field]

    def wire(self) -> None:
        """Make the soft PVs answer as the IOC does."""
        p = self.pvs

        def acquire(value: Any) -> None:
            if value and p["Capture_RBV"]._reading.value == 1:
                p["ArrayCounter_RBV"].set_now(p["ArrayCounter_RBV"]._reading.value + 1)
                p["NumCaptured_RBV"].set_now(p["NumCaptured_RBV"]._reading.value + 1)

        def capture(value: Any) -> None:
            p["Capture_RBV"].set_now(int(value))
            if value:
                p["NumCaptured_RBV"].set_now(0)
                p["FullFileName_RBV"].set_now(p["FilePath"]._reading.value + p["FileName"]._reading.value + ".h5")

        p["Acquire"].on_put = acquire
        p["FilePath"].on_put = lambda v: p["FilePathExists_RBV"].set_now(1)
        p["Capture"].on_put = capture


@pytest.fixture
def cam() -> AreaDetector:
    ioc = SoftCamera()
    cam = AreaDetector("X:cam:", name="cam", write_path="/data/images", backend=ioc)
    ioc.wire()
    return cam


def test_triggers_need_a_staged_camera(cam: AreaDetector) -> None:
    with pytest.raises(RuntimeError, match="stage the camera before triggering"):
        cam.trigger().wait(2)


def test_stage_trigger_and_asset_documents(cam: AreaDetector) -> None:
    cam.stage().wait(2)
    keys = call_in_loop(cam.describe())
    assert keys["cam_image"]["external"] == "STREAM:" and keys["cam_image"]["shape"] == [1, 6, 8]
    assert list(cam.collect_asset_docs()) == [], "nothing before the first frame"
    cam.trigger().wait(2)
    cam.trigger().wait(2)
    docs = list(cam.collect_asset_docs())
    assert [n for n, _ in docs] == ["stream_resource", "stream_datum"]
    resource, datum = docs[0][1], docs[1][1]
    assert resource["uri"].startswith("file://localhost/data/images/cam_") and resource["uri"].endswith(".h5")
    assert resource["parameters"]["dataset"] == "/entry/data/data" and resource["data_key"] == "cam_image"
    assert datum["indices"] == {"start": 0, "stop": 2} and datum["stream_resource"] == resource["uid"]
    cam.trigger().wait(2)
    assert [d["indices"] for n, d in cam.collect_asset_docs()] == [{"start": 2, "stop": 3}]
    assert cam.get_index() == 3
    cam.unstage().wait(2)
    assert list(cam.collect_asset_docs()) == []


def test_bluesky_runengine_emits_the_stream_documents(cam: AreaDetector) -> None:
    bluesky = pytest.importorskip("bluesky")
    import bluesky.plans as bp
    from event_model import DocumentNames, schema_validators

    docs: list[tuple[str, dict[str, Any]]] = []
    RE = bluesky.RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(bp.count([cam], 3))
    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    names = [n for n, _ in docs]
    assert names.count("stream_resource") == 1 and names.count("stream_datum") == 3
    datums = [d for n, d in docs if n == "stream_datum"]
    assert [d["indices"] for d in datums] == [{"start": i, "stop": i + 1} for i in range(3)]
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert all(d["descriptor"] == descriptor["uid"] for d in datums)
    assert [d["data"]["cam_array_counter"] for n, d in docs if n == "event"] == [1, 2, 3]
