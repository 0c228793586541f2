"""Stand-in SIMP daemons, one per dialect seen in the field (see sloppy_daemon.py)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DIALECTS = ("spec", "ack-next", "first-bit-1", "shared-bit", "short-fields")


def profile_path(dialect: str, folder: Path) -> Path:
    """Write the stand-in's profile for `dialect` into `folder` (cwd points back here)."""
    text = (HERE / "profile_template.yaml").read_text().replace("DIALECT", dialect)
    path = folder / f"standin-{dialect}.yaml"
    path.write_text(text.replace("cwd: .", f"cwd: {HERE}"))
    return path
