"""Conformance reports: a terminal table, JUnit XML, and HTML pages (one per implementation and a
matrix across implementations, as the Autobahn testsuite shows WebSocket implementations).

Every failure carries its deviation in protocol terms, its ladder and (in the HTML and the
artefact folder) its pcap; "not observable" lists the user-side checks the profile could not
make, so a partial pass is never shown as a plain pass.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from sim.conform.runner import ERROR, FAIL, NA, PARTIAL, PASS, CaseResult, slug

_MARK = {PASS: "pass", PARTIAL: "pass*", FAIL: "FAIL", NA: "n/a", ERROR: "ERROR"}


def counts(results: Sequence[CaseResult]) -> dict[str, int]:
    out = {s: 0 for s in (PASS, PARTIAL, FAIL, NA, ERROR)}
    for r in results:
        out[r.status] += 1
    return out


def totals_line(results: Sequence[CaseResult]) -> str:
    c = counts(results)
    return (f"{c[PASS]} passed, {c[FAIL]} failed, {c[PARTIAL]} not observable, {c[NA]} not applicable, "
            f"{c[ERROR]} errors")


def table(results: Sequence[CaseResult], width: int = 100) -> str:
    """One row per case: id, group, result, seconds, and the deviation (cut to fit `width`)."""
    idw = max([len(r.case.id) for r in results] + [4])
    lines = [f"{'case':<{idw}}  {'group':<12}  {'result':<6}  {'s':>5}  detail"]
    for r in results:
        head = f"{r.case.id:<{idw}}  {r.case.group:<12}  {_MARK[r.status]:<6}  {r.seconds:>5.1f}  "
        detail = r.summary()
        room = max(width - len(head), 20)
        lines.append(head + (detail if len(detail) <= room else detail[: room - 1] + "…"))
    return "\n".join(lines)


def failure_reports(results: Sequence[CaseResult], artifacts: Path | None = None) -> str:
    """The full deviation and ladder of each failed or errored case (and where its pcap is)."""
    out = []
    for r in results:
        if r.status in (FAIL, ERROR):
            pcap = artifacts / slug(r.profile) / r.case.id / "capture.pcapng" if artifacts else None
            where = f"   pcap: {pcap}\n" if pcap else ""
            out.append(f"── {r.profile} / {r.case.id}: {r.case.title}\n   {r.detail}\n{where}{r.ladder}")
    return "\n".join(out)


def write_junit(by_profile: Mapping[str, Sequence[CaseResult]], path: Path) -> None:
    suites = ET.Element("testsuites", name="SIMP conformance")
    for name, results in by_profile.items():
        c = counts(results)
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(results)),
                              failures=str(c[FAIL]), errors=str(c[ERROR]), skipped=str(c[NA]),
                              time=f"{sum(r.seconds for r in results):.3f}")
        for r in results:
            tc = ET.SubElement(suite, "testcase", classname=f"conform.{name}.{r.case.group}", name=r.case.id,
                               time=f"{r.seconds:.3f}")
            if r.status == FAIL:
                ET.SubElement(tc, "failure", message=r.detail).text = r.ladder
            elif r.status == ERROR:
                ET.SubElement(tc, "error", message=r.detail).text = "\n".join(r.daemon_output[-30:])
            elif r.status == NA:
                ET.SubElement(tc, "skipped", message=f"not applicable: {r.detail}")
            elif r.status == PARTIAL:
                ET.SubElement(tc, "system-out").text = r.summary()
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


_CSS = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.pass{background:#cfc}.notobservable{background:#ffd}.fail{background:#fcc}.na{background:#eee}
.error{background:#f99}pre{font-size:12px;background:#f8f8f8;padding:8px;overflow-x:auto}"""


def _cls(status: str) -> str:
    return status.replace(" ", "").replace("/", "")


def implementation_page(name: str, results: Sequence[CaseResult]) -> str:
    esc = html.escape
    rows = []
    details = []
    for r in results:
        link = f'<a href="#{esc(r.case.id)}">{esc(r.case.id)}</a>' if r.status != PASS else esc(r.case.id)
        rows.append(f'<tr><td>{link}</td><td>{esc(r.case.group)}</td><td class="{_cls(r.status)}">'
                    f"{esc(_MARK[r.status])}</td><td>{r.seconds:.1f}</td><td>{esc(r.case.title)}</td>"
                    f"<td>{esc(r.summary())}</td></tr>")
        if r.status != PASS:
            base = f"{slug(name)}/{r.case.id}"
            details.append(
                f'<h3 id="{esc(r.case.id)}">{esc(r.case.id)}: {esc(r.case.title)}</h3>'
                f"<p><b>{esc(_MARK[r.status])}</b>: {esc(r.summary())}</p>"
                f'<p><a href="{base}/capture.pcapng">capture.pcapng</a>'
                f' · <a href="{base}/ladder.txt">ladder</a>'
                f' · <a href="{base}/user.txt">user transcript</a>'
                f' · <a href="{base}/daemon.txt">daemon output</a></p>'
                f"<pre>{esc(r.ladder)}</pre>")
    return (f"<!doctype html><meta charset=utf-8><title>SIMP conformance: {esc(name)}</title>"
            f"<style>{_CSS}</style><h1>SIMP conformance: {esc(name)}</h1><p>{esc(totals_line(results))} · "
            f'<a href="index.html">all implementations</a></p><table><tr><th>case</th><th>group</th>'
            f"<th>result</th><th>s</th><th>what it checks</th><th>deviation</th></tr>{''.join(rows)}</table>"
            + "".join(details))


def matrix_page(by_profile: Mapping[str, Sequence[CaseResult]]) -> str:
    esc = html.escape
    names = list(by_profile)
    ids: list[str] = []
    titles: dict[str, str] = {}
    cells: dict[tuple[str, str], CaseResult] = {}
    for name, results in by_profile.items():
        for r in results:
            if r.case.id not in titles:
                ids.append(r.case.id)
                titles[r.case.id] = r.case.title
            cells[(name, r.case.id)] = r
    head = "".join(f'<th><a href="{esc(slug(n))}.html">{esc(n)}</a></th>' for n in names)
    rows = []
    for cid in ids:
        tds = []
        for n in names:
            r = cells.get((n, cid))
            if r is None:
                tds.append("<td></td>")
            else:
                tds.append(f'<td class="{_cls(r.status)}" title="{esc(r.summary())}">'
                           f'<a href="{esc(slug(n))}.html#{esc(cid)}">{esc(_MARK[r.status])}</a></td>')
        rows.append(f"<tr><td>{esc(cid)}</td><td>{esc(titles[cid])}</td>{''.join(tds)}</tr>")
    totals = "".join(f"<td>{esc(totals_line(by_profile[n]))}</td>" for n in names)
    return (f"<!doctype html><meta charset=utf-8><title>SIMP conformance matrix</title><style>{_CSS}</style>"
            f"<h1>SIMP conformance matrix</h1><table><tr><th>case</th><th>what it checks</th>{head}</tr>"
            f"{''.join(rows)}<tr><th colspan=2>totals</th>{totals}</tr></table>")


def write_html(by_profile: Mapping[str, Sequence[CaseResult]], out: Path) -> Path:
    """index.html (the matrix) and NAME.html per implementation; artefacts under out/NAME/CASE/."""
    from sim.conform.runner import write_artifacts

    out.mkdir(parents=True, exist_ok=True)
    for name, results in by_profile.items():
        write_artifacts(results, out)
        (out / f"{slug(name)}.html").write_text(implementation_page(name, results), encoding="utf-8")
    index = out / "index.html"
    index.write_text(matrix_page(by_profile), encoding="utf-8")
    return index
