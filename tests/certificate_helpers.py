"""Certificates for in-process tests: this instance's home, and exports made as another peer."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

from certificates.exchange import MANIFEST, export_identity
from certificates.identities import DEFAULT_VALIDITY, generate_identities


def use_home(settings, home: Path, name: str | None = None):
    """Point this test's instance settings at `home` (keys, state) and return the config."""
    config = dataclasses.replace(settings.ESYNC, home=home, name=name or settings.ESYNC.name)
    config.keys_dir.mkdir(parents=True, exist_ok=True)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    settings.ESYNC = config
    return config


def export_as_peer(settings, folder: Path, name: str = "beta",
                   valid_for=DEFAULT_VALIDITY, server_id: str | None = None) -> Path:
    """What another instance's `esync certs export` would have written into `folder`."""
    own = settings.ESYNC
    try:
        use_home(settings, folder.parent / f"{name}-home-{uuid.uuid4().hex[:6]}", name)
        generate_identities(valid_for=valid_for)
        export_identity(folder)
    finally:
        settings.ESYNC = own
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["server_id"] = server_id or str(uuid.uuid4())
    manifest_path.write_text(json.dumps(manifest))
    return folder
