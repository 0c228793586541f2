"""An HTML report of a whole run: one self-contained page (no external assets, works offline).

Every scenario gets a section, worst first (invalid files, failures, seed-bound results,
passes): its result, file, seed, protocol and wall time, the failed expectations, the command
that replays it, and its ladder as an inline SVG (folded; failures marked; `timed`: rows spaced by
time).  Failed and invalid
sections start open, passed ones closed.  A filter box (name or file) and one checkbox per
result narrow the list; the few lines of script that do it are inline.
"""

from __future__ import annotations

import html
from pathlib import Path

from sim.outcome import FAIL, INVALID, STATUSES, Outcome, worst_first

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}code,pre{font-family:monospace}
.bar{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}
.bar label{margin-right:1em}
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer}
.st{display:inline-block;min-width:6.5em;font-weight:bold}
.pass .st{color:#070}.fail .st,.invalid .st{color:#c00}.seed-bound .st{color:#a60}
.meta{color:#666;font-size:.9em}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere}
.ladder{overflow:auto;max-height:80vh;border:1px solid #eee}
"""

_SCRIPT = """
const box = document.getElementById('q');
const checks = Array.from(document.querySelectorAll('input[data-status]'));
function apply() {
  const q = box.value.toLowerCase();
  const on = new Set(checks.filter(c => c.checked).map(c => c.dataset.status));
  let shown = 0;
  for (const d of document.querySelectorAll('details.sc')) {
    const ok = on.has(d.dataset.status) && d.dataset.key.includes(q);
    d.hidden = !ok;
    if (ok) shown++;
  }
  document.getElementById('shown').textContent = shown;
}
box.addEventListener('input', apply);
checks.forEach(c => c.addEventListener('change', apply));
apply();
"""

_esc = html.escape


def _section(o: Outcome, timed: bool) -> str:
    status = o.status
    opened = " open" if status in (FAIL, INVALID) else ""
    key = _esc(f"{o.name} {o.source}".lower(), quote=True)
    head = f'<span class="st">{status.upper()}</span> {_esc(o.name)}'
    parts = [f'<details class="sc {status}" data-status="{status}" data-key="{key}"{opened}>']
    r = o.result
    if r is None:
        parts.append(f'<summary>{head} <span class="meta">{_esc(o.source)}</span></summary>')
        parts.append(f"<pre>{_esc(o.message())}</pre></details>")
        return "\n".join(parts)
    sc = r.scenario
    meta = (
        f"{_esc(o.source)} · seed {r.seed} · {r.virtual_time:.1f}s protocol · {r.wall_time * 1000:.0f}ms wall"
    )
    parts.append(f'<summary>{head} <span class="meta">{meta}</span></summary>')
    if sc.description:
        parts.append(f"<p>{_esc(sc.description)}</p>")
    if sc.known_limit:
        parts.append(f"<p><b>Known protocol limit:</b> {_esc(sc.known_limit)}</p>")
    if o.message():
        parts.append(f"<pre>{_esc(o.message())}</pre>")
    parts.append(f"<p>Replay: <code>{_esc(r.replay_command())}</code></p>")
    parts.append(f'<div class="ladder">{r.trace.svg(r.markers(), title=sc.name, timed=timed)}</div>')
    parts.append("</details>")
    return "\n".join(parts)


def report_html(outcomes: list[Outcome], *, command: str = "", timed: bool = False) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    boxes = " ".join(
        f'<label><input type="checkbox" data-status="{s}" checked> {s} ({counts[s]})</label>'
        for s in STATUSES
    )
    title = "simp-sim scenario report"
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p><code>{_esc(command)}</code></p>" if command else "",
        '<div class="bar"><input id="q" type="search" placeholder="filter by name or file" size="40"> '
        f'{boxes} <span class="meta">showing <span id="shown">{len(outcomes)}</span> of {len(outcomes)}'
        "</span></div>",
        *(_section(o, timed) for o in worst_first(outcomes)),
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(part for part in body if part) + "\n"


def write_report(directory: Path, outcomes: list[Outcome], *, command: str = "", timed: bool = False) -> Path:
    """Write DIR/index.html; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    path.write_text(report_html(outcomes, command=command, timed=timed), encoding="utf-8")
    return path
