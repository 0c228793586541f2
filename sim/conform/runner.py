"""Run conformance cases against one implementation: each case on a fresh daemon, in parallel.

Every case gets its own daemon (started from the profile), its own raw peer and its own
addresses (a 127.X.Y.0/24 block, or a network namespace for `binds: netns`), so cases are
independent and `jobs` of them run at once: foreign daemons keep real-time timers, and a
suite of 5-second timeouts would take many minutes case after case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sim.conform.cases import CASES, Case
from sim.conform.context import USER, Ctx, new_peers
from sim.conform.peer import Deviation, NotApplicable
from sim.loopback import new_block
from sim.profiles import Implementation, NotSupported, Profile
from sim.trace import Trace

PASS, PARTIAL, FAIL, NA, ERROR = "pass", "not observable", "fail", "n/a", "error"
STATUSES = (PASS, PARTIAL, FAIL, NA, ERROR)


@dataclass
class CaseResult:
    case: Case
    profile: str
    status: str
    detail: str = ""
    unobserved: list[str] = field(default_factory=list)
    seconds: float = 0.0
    trace: Trace | None = None
    user_lines: list[str] = field(default_factory=list)
    daemon_output: list[str] = field(default_factory=list)

    @property
    def ladder(self) -> str:
        return self.trace.ladder() if self.trace is not None else ""

    def summary(self) -> str:
        if self.status == PARTIAL:
            return "passed what it could see; not observable: " + "; ".join(self.unobserved)
        return self.detail


def case_limit(profile: Profile) -> float:
    """No case may run longer than this (give-up needs retries + 2 timeouts, plus start-up)."""
    return (max(profile.retries or 6, 6) + 8) * profile.timeout + profile.startup + 20.0


async def run_case(profile: Profile, case: Case) -> CaseResult:
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    trace = Trace(["peer", profile.name])
    prefix = new_block()
    impl = Implementation(profile, prefix + "1")
    result = CaseResult(case, profile.name, PASS, trace=trace)
    peers = ()
    user = None
    try:
        await impl.start()
        hint = impl.peer_ip_hint
        peer_ip = hint or prefix + "2"
        stranger_ip = impl.netns.outside_extra if impl.netns is not None else prefix + "3"
        peers = new_peers(trace, impl, peer_ip, stranger_ip, loop.time())
        await peers[0].open()
        user = impl.user()
        ctx = Ctx(profile, impl, user, trace, *peers)
        try:
            await asyncio.wait_for(user.connect(USER), profile.startup)
            await asyncio.wait_for(case.body(ctx), case_limit(profile))
        except NotSupported as exc:
            raise NotApplicable(str(exc)) from None
        except TimeoutError:
            raise Deviation(f"the case did not finish within {case_limit(profile):.0f}s") from None
        result.unobserved = ctx.unobserved
        result.status = PARTIAL if ctx.unobserved else PASS
    except Deviation as exc:
        result.status, result.detail = FAIL, str(exc)
    except NotApplicable as exc:
        result.status, result.detail = NA, str(exc)
    except Exception as exc:  # the harness or the implementation's start-up; reported, never hidden
        result.status, result.detail = ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        if user is not None:
            try:
                result.user_lines = user.transcript()
                await asyncio.wait_for(user.close(), 5)
            except Exception:  # a client that is already gone
                pass
        for p in peers:
            p.close()
        await impl.close()
        result.daemon_output = impl.output()
        result.seconds = time.monotonic() - started
    return result


def select(keyword: str | None = None, cases: Sequence[Case] = CASES) -> list[Case]:
    if not keyword:
        return list(cases)
    k = keyword.lower()
    return [c for c in cases if k in c.id or k in c.group.lower() or k in c.title.lower()]


async def run_suite(profile: Profile, cases: Sequence[Case], jobs: int = 4,
                    progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    gate = asyncio.Semaphore(max(jobs, 1))

    async def one(c: Case) -> CaseResult:
        async with gate:
            r = await run_case(profile, c)
        if progress is not None:
            progress(r)
        return r

    return list(await asyncio.gather(*(one(c) for c in cases)))


def write_artifacts(results: Sequence[CaseResult], out: Path) -> None:
    """Per case: ladder.txt, capture.pcapng, user.txt, daemon.txt under out/PROFILE/CASE/."""
    for r in results:
        d = out / slug(r.profile) / r.case.id
        d.mkdir(parents=True, exist_ok=True)
        if r.trace is not None:
            (d / "ladder.txt").write_text(r.ladder, encoding="utf-8")
            r.trace.write_pcapng(d / "capture.pcapng")
        (d / "user.txt").write_text("\n".join(r.user_lines) + "\n", encoding="utf-8")
        (d / "daemon.txt").write_text("\n".join(r.daemon_output) + "\n", encoding="utf-8")


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text) or "implementation"
