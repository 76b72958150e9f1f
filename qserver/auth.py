"""Access control: users in groups, API keys stored only as hashes, per-group allow-lists.

The users file (``D/users.json``, owner-only) looks like::

    {"groups": {"admin": {"role": "admin", "plans": "*", "devices": "*"},
                "observers": {"role": "observer"},
                "sample": {"role": "user", "plans": ["count", "scan"], "devices": ["det", "motor"]}},
     "users": {"admin": {"group": "admin", "key_sha256": "…"}}}

Roles: ``admin`` (everything, including users and history), ``user`` (edit the queue and
control it within the group's allow-lists), ``observer`` (read only). Keys are 32 random
bytes, so a plain SHA-256 of them cannot be searched back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("admin", "user", "observer")


class AuthError(PermissionError):
    """A request beyond what the key's group may do (HTTP 403)."""

    status = 403


class Unauthenticated(AuthError):
    """A request without a valid key (HTTP 401)."""

    status = 401


@dataclass(frozen=True)
class Principal:
    """Who is asking: user name, group, role and the group's allow-lists (None = everything)."""

    user: str
    group: str
    role: str
    plans: frozenset[str] | None
    devices: frozenset[str] | None

    def require(self, role: str) -> None:
        """Raise ``AuthError`` unless this principal's role reaches ``role``."""
        rank = {"observer": 0, "user": 1, "admin": 2}
        if rank[self.role] < rank[role]:
            raise AuthError(f"user {self.user!r} (group {self.group!r}, role {self.role}) may not do this: "
                            f"it needs the {role} role")

    def check_item(self, name: str, devices: list[str]) -> None:
        """Raise ``AuthError`` if the group may not run plan ``name`` or touch one of ``devices``."""
        if self.plans is not None and name not in self.plans:
            raise AuthError(f"group {self.group!r} may not run plan {name!r} (allowed: {sorted(self.plans)})")
        if self.devices is not None:
            bad = [d for d in devices if d not in self.devices]
            if bad:
                raise AuthError(f"group {self.group!r} may not use device(s) {bad} (allowed: {sorted(self.devices)})")


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random API key."""
    return secrets.token_urlsafe(32)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _allow(value: Any) -> frozenset[str] | None:
    if value is None or value == "*":
        return None
    return frozenset(str(v) for v in value)


class Users:
    """The users file: look up keys, add groups and users (keys are returned once, stored hashed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"groups": {}, "users": {}}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
        self._by_hash: dict[str, str] = {}
        self._principals: dict[str, Principal] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._by_hash = {u["key_sha256"]: name for name, u in self.data["users"].items()}
        self._principals = {}

    def save(self) -> None:
        """Write the users file (owner-only)."""
        _write_private(self.path, json.dumps(self.data, indent=1, sort_keys=True))

    def ensure_admin(self, key_file: Path) -> str | None:
        """On first start: the admin group and user, the key written to ``key_file`` (0600). Returns the key."""
        self.data["groups"].setdefault("admin", {"role": "admin", "plans": "*", "devices": "*"})
        self.data["groups"].setdefault("observers", {"role": "observer", "plans": [], "devices": []})
        if "admin" in self.data["users"] and key_file.exists():
            self.save()
            return None
        key = new_key()
        self.data["users"]["admin"] = {"group": "admin", "key_sha256": hash_key(key)}
        self._reindex()
        self.save()
        _write_private(key_file, key + "\n")
        return key

    def add_group(self, name: str, role: str, plans: Any = "*", devices: Any = "*") -> dict[str, Any]:
        """Create or replace group ``name``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        for label, value in (("plans", plans), ("devices", devices)):
            if value != "*" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"{label} must be '*' or a list of names, got {value!r}")
        group = {"role": role, "plans": plans, "devices": devices}
        self.data["groups"][name] = group
        self._reindex()
        self.save()
        return group

    def add_user(self, name: str, group: str) -> str:
        """Create user ``name`` in ``group`` (or give it a new key); return the key (shown once)."""
        if group not in self.data["groups"]:
            raise ValueError(f"no group {group!r} (groups: {sorted(self.data['groups'])})")
        key = new_key()
        self.data["users"][name] = {"group": group, "key_sha256": hash_key(key)}
        self._reindex()
        self.save()
        return key

    def authenticate(self, key: str | None) -> Principal:
        """The principal holding ``key``; ``AuthError`` if there is none."""
        if not key:
            raise Unauthenticated("no API key: send 'Authorization: Bearer KEY' (clients read BEAMTWIN_QUEUE_KEY)")
        digest = hash_key(key)
        known = self._principals.get(digest)
        if known is not None:
            return known
        name = self._by_hash.get(digest)
        if name is None or not hmac.compare_digest(self.data["users"][name]["key_sha256"], digest):
            raise Unauthenticated("invalid API key")
        user = self.data["users"][name]
        group = self.data["groups"].get(user["group"])
        if group is None:
            raise Unauthenticated(f"user {name!r} belongs to a group that no longer exists ({user['group']!r})")
        principal = Principal(name, user["group"], group["role"], _allow(group.get("plans", "*")),
                              _allow(group.get("devices", "*")))
        self._principals[digest] = principal
        return principal
