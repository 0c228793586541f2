"""Stand-in SIMP daemons, one per dialect seen in the field (see sloppy_daemon.py)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DIALECTS = ("spec", "ack-next", "first-bit-1", "shared-bit", "shared-bit-1", "short-fields")


def profile_path(dialect: str, folder: Path, *, client: str = "stdio") -> Path:
    """Write the stand-in's profile for `dialect` into `folder` (cwd points back here).

    `client="udp"`: its user acts through a text protocol on its client port instead of stdin.
    """
    text = (HERE / "profile_template.yaml").read_text().replace("DIALECT", dialect)
    text = text.replace("cwd: .", f"cwd: {HERE}")
    if client == "udp":
        text = text.replace("--timeout {timeout}", "--timeout {timeout} --client-port {client_port}")
        text = text.replace("  shape: stdio\n  attach: daemon\n", "  shape: udp\n")
    path = folder / f"standin-{dialect}-{client}.yaml"
    path.write_text(text)
    return path
