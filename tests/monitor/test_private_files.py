"""The SQLite database and the data folder are readable by the service's user only."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config import load_settings
from monitor.service import build_service


def test_database_file_and_data_folder_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    old_umask = os.umask(0o022)  # a usual umask: files 0644, folders 0755 unless the service says otherwise
    try:
        service = build_service(load_settings(data_dir=data, hl7={"enabled": False}, writer_process=False))
    finally:
        os.umask(old_umask)
    service.engine.dispose()
    assert data.stat().st_mode & 0o777 == 0o700
    db = data / "ivmon.db"
    for file in (db, db.with_name("ivmon.db-wal"), db.with_name("ivmon.db-shm")):
        if file.exists():
            assert file.stat().st_mode & 0o777 == 0o600, file
    assert db.exists()
