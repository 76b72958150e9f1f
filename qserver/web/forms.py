"""Plan forms: each queueable plan's parameters as field descriptions, trimmed to what a group may use.

The browser builds its form from these; the values it sends are checked by the queue's
own validator (``qserver.validate``), so the form and the API can never disagree.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from qserver.auth import Principal
from qserver.validate import DEVICE_PARAMS, plan_catalogue

_SCALARS = {int: "int", float: "number", bool: "bool", str: "text"}


def _widget(name: str, hint: Any) -> str:
    """The field type for a parameter: device pickers, scalar inputs, or JSON text."""
    role = DEVICE_PARAMS.get(name)
    if role is not None:
        return "devices" if name in ("detectors", "motors", "devices") else "device"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        hint = args[0]
    return _SCALARS.get(hint, "json")


def _annotation(hint: Any) -> str:
    """A readable type name: ``float``, ``Sequence[Any]``, ``dict[str, Any] | None``."""
    if hint is None:
        return ""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else repr(value)


def plan_fields(fn: Any) -> list[dict[str, Any]]:
    """One description per parameter: name, how it is passed, widget, required, default, device role."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an unresolvable annotation: fall back to JSON fields
        hints = {}
    out = []
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        kinds: dict[inspect._ParameterKind, str] = {inspect.Parameter.VAR_POSITIONAL: "varargs",
                                                    inspect.Parameter.KEYWORD_ONLY: "keyword"}
        passed = kinds.get(p.kind, "positional")
        widget = "json" if passed == "varargs" else _widget(p.name, hints.get(p.name, Any))
        has_default = p.default is not inspect.Parameter.empty
        out.append({"name": p.name, "passed": passed, "widget": widget, "role": DEVICE_PARAMS.get(p.name),
                    "required": passed != "varargs" and not has_default,
                    "default": _jsonable(p.default) if has_default else None,
                    "annotation": (f"*{p.name}: a JSON list of values" if passed == "varargs"
                                   else _annotation(hints.get(p.name)))})
    return out


def plans_for(who: Principal, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The plans and devices ``who`` may use, with the form fields of each plan."""
    plans: dict[str, Any] = {}
    if who.role != "observer":
        for name, fn in sorted(plan_catalogue().items()):
            if who.plans is not None and name not in who.plans:
                continue
            doc = inspect.getdoc(fn) or ""
            plans[name] = {"doc": doc.splitlines()[0].replace("``", "") if doc else "", "fields": plan_fields(fn)}
    devices = {n: d for n, d in (snapshot.get("devices") or {}).items()
               if who.devices is None or n in who.devices}
    return {"plans": plans, "devices": devices, "role": who.role}
