"""Beamline files describe the twin: every PV the profile's devices use is served; bad files
get errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import beamlines
from acq.devices.profile import make_devices
from twin.iocs.server import build_iocs, pvdb_of, served_names

MOTOR_FIELDS = ("VAL RBV DVAL DRBV OFF DIR FOFF SET VELO VMAX VBAS ACCL EGU PREC MRES RDBD HLM LLM DHLM DLLM HLS LLS "
                "LVIO DMOV MOVN TDIR STOP SPMG HOMF HOMR MSTA DESC").split()
SCALER_FIELDS = "CNT CONT TP PR1 FREQ T S1 S2 NM1 NM2 EGU".split()
CAMERA_PVS = ("cam1:Acquire cam1:Acquire_RBV cam1:AcquireTime_RBV cam1:AcquirePeriod_RBV cam1:NumImages_RBV "
              "cam1:ImageMode_RBV cam1:TriggerMode_RBV cam1:ArrayCounter_RBV cam1:DetectorState_RBV "
              "cam1:ArraySize_RBV image1:ArrayData HDF1:FilePath HDF1:FileName HDF1:FileTemplate HDF1:FileNumber "
              "HDF1:AutoIncrement HDF1:FileWriteMode HDF1:NumCapture HDF1:Capture HDF1:FullFileName_RBV "
              "HDF1:FilePathExists_RBV HDF1:LazyOpen HDF1:NumCaptured_RBV").split()

BEAM_PVS = "Current-RB TopUpCountdown-RB BeamAvailable-RB Shutter-Cmd Shutter-RB".split()
TRIGGER_BOX_PVS = "Axis-Sel Start-SP Step-SP Count-SP Arm-Cmd Armed-RB Captured-RB Positions-RB Times-RB".split()


@pytest.mark.parametrize("name", [n for n in beamlines.names() if "physics" in beamlines.load(n)])
def test_every_pv_the_profile_uses_is_served(name: str) -> None:
    profile = beamlines.load(name)
    _, groups = build_iocs(profile)
    served = set(served_names(pvdb_of(groups)))
    kinds = ("motor", "scaler", "beam_status", "shutter", "area_detector", "trigger_box", "positioner",
             "point_detector")
    known = {n: s for n, s in profile["devices"].items() if s["kind"] in kinds}
    devices = make_devices({"devices": known})
    used = {sig.source.removeprefix("ca://") for dev in devices.values() for sig in dev.signals()}
    assert used and used <= served, sorted(used - served)
    for spec in profile["devices"].values():
        p = spec["prefix"]
        want = {"motor": [p] + [f"{p}.{f}" for f in MOTOR_FIELDS], "scaler": [f"{p}.{f}" for f in SCALER_FIELDS],
                "area_detector": [p + s for s in CAMERA_PVS],
                "trigger_box": [p + s for s in TRIGGER_BOX_PVS],
                "beam_status": [p + s for s in BEAM_PVS], "shutter": [p + s for s in BEAM_PVS],
                "positioner": [p + "Pos-SP", p + "Pos-RB"], "point_detector": [p + "Rate-RB"]}[spec["kind"]]
        assert set(want) <= served, sorted(set(want) - served)


@pytest.mark.parametrize(("edit", "field"), [
    (lambda b: b["physics"]["axes"]["motor"].update(velocity="fast"), "physics.axes.motor.velocity"),
    (lambda b: b["physics"]["ring"].update(lifetime="long"), "physics.ring.lifetime"),
    (lambda b: b["physics"]["sample"].update(kind="crystal"), "physics.sample.kind"),
    (lambda b: b["devices"]["det"].update(kind="camera"), "devices.det.kind"),
    (lambda b: b["physics"]["axes"].pop("motor"), "physics.sample.axis"),
    (lambda b: b["physics"]["axes"].update(extra=b["physics"]["axes"].pop("motor"))
     or b["physics"]["sample"].update(axis="extra"), "devices.motor"),
    (lambda b: b["physics"].update(beam_status={}), "physics.beam_status.prefix"),
    (lambda b: b["devices"]["shutter"].update(prefix="BT:other:"), "beam_status and shutter are one IOC"),
    (lambda b: b["devices"].update(piezo={"kind": "positioner", "prefix": "BT:pz:"}),
     "devices.piezo: no physics.axes.piezo"),
    (lambda b: b["devices"].update(pd={"kind": "point_detector", "prefix": "BT:pd:", "dwell": 0}), "devices.pd.dwell"),
])
def test_bad_beamline_files_name_the_field(edit: object, field: str, tmp_path: Path) -> None:
    data = yaml.safe_load(beamlines.path("default").read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build_iocs(beamlines.load(path))
