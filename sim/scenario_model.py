"""The parsed form of a scenario file: vocabulary, frozen dataclasses and the one error type.

Nothing here reads YAML or text: `sim.scenario` builds these objects from a file (through
`sim.scenario_yaml` for the document structure and `sim.scenario_lang` for the one-line
mini-languages), and `sim.runner` consumes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sim import faults as F
from simp import extension, wire
from simp.events import EndReason

# -- vocabulary -------------------------------------------------------------------------------

LABELS = (*F.OPS, "*")  # wire line labels; "*" = any datagram
END_NOTICES = tuple(r.text for r in EndReason)  # "peer left", "declined", ...
TEXT_NOTICES = ("invitation", "message", "delivered", "error")  # may carry a quoted text
NOTICE_KINDS = ("chat started", *TEXT_NOTICES, *END_NOTICES)
FINAL_STATES = ("free", "inviting", "invited", "chatting", "down")
RESERVED_HOSTS = ("sleep", "daemon", "client")
MAX_HOSTS = 50
DEFAULT_TOLERANCE = 0.01  # seconds, for `at` without `~`
DEFAULT_WITHIN = 300.0  # seconds, for wait-until without `within`
DEFAULT_TIME_LIMIT = 600.0  # seconds of (virtual) time a whole scenario may take


class ScenarioError(ValueError):
    """A scenario file is not valid.  `str()` is `FILE:LINE: KEY.PATH: what was expected`."""

    def __init__(self, source: str, where: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.where = where
        self.message = message
        self.line = line
        location = source + (f":{line}" if line else "")
        super().__init__(f"{location}: {where}: {message}" if where else f"{location}: {message}")


# -- result types -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DaemonOptions:
    """The daemon configuration every host of the scenario runs with (seconds, counts)."""

    timeout: float = 5.0
    retries: int = 6
    invite_expiry: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Host:
    """A host: its daemon and its client.  `daemon`/`client`: running / connected at the start;
    `extension`: its daemon speaks SIMPX/1 (docs/EXTENSION.md; off: `daemon.py --no-extension`);
    `implementation`: the name of an implementation profile (sim/profiles.py) whose daemon and user
    play this host instead of ours (None: our own daemon); `peer_dialects`: (host, dialect) pairs,
    the hosts our daemon is told speak a dialect it does not learn (`daemon.py --peer-dialect`)."""

    name: str
    user: str
    daemon: bool = True
    client: bool = True
    extension: bool = True
    implementation: str | None = None
    peer_dialects: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Notice:
    """Something a host's client is told.  `kind` is one of NOTICE_KINDS; `text` the quoted
    detail (inviter's user name, message text, error text); `undelivered` the messages a chat
    end reported as not delivered (None: not checked)."""

    kind: str
    text: str | None = None
    undelivered: tuple[str, ...] | None = None

    def describe(self) -> str:
        out = self.kind + ("" if self.text is None else f" {json.dumps(self.text)}")
        if self.undelivered is not None:
            out += " (undelivered: " + ", ".join(json.dumps(t) for t in self.undelivered) + ")"
        return out


@dataclass(frozen=True, kw_only=True)
class Step:
    """One scenario step.  `host` is None for steps of the whole scenario (sleep); `where` is
    the key path (`steps[3]`) and `source` the line as written, for reports and ladders."""

    host: str | None
    where: str = ""
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class Connect(Step):
    user: str | None = None  # None: the host's configured user name


@dataclass(frozen=True, kw_only=True)
class Wait(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Start(Step):
    peer: str


@dataclass(frozen=True, kw_only=True)
class Accept(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Decline(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Say(Step):
    text: str


@dataclass(frozen=True, kw_only=True)
class Quit(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Disconnect(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class StartDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class KillDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class RestartDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class KillClient(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Sleep(Step):
    seconds: float


@dataclass(frozen=True, kw_only=True)
class WaitUntil(Step):
    notice: Notice
    within: float = DEFAULT_WITHIN


@dataclass(frozen=True, kw_only=True)
class WireLine:
    """One expected datagram as a daemon sent it, e.g. `bob > alice SYN+ACK at +5s ~0.1s`.

    `src`/`dst` are host names or "*"; `label` one of LABELS; `seq`/`text` None when not given;
    `dropped` True/False when the line says `dropped`/`forwarded`, None when it says neither.
    `at` is the expected time: since the previous matched line when `relative`, else since the
    scenario start; `tolerance` is the allowed difference either way.
    """

    src: str
    dst: str
    label: str
    seq: int | None = None
    text: str | None = None
    dropped: bool | None = None
    at: float | None = None
    relative: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    where: str = ""
    source: str = ""

    def matches(self, src: str, dst: str, datagram: wire.Datagram | None, dropped: bool) -> bool:
        """Whether one sent datagram fits this line, ignoring time.  `datagram` is None when the
        bytes were malformed; only a `*` line can match those."""
        if self.src not in ("*", src) or self.dst not in ("*", dst):
            return False
        if self.dropped is not None and self.dropped != dropped:
            return False
        if datagram is None:
            return self.label == "*" and self.seq is None and self.text is None
        return (
            self.label in ("*", datagram.label)
            and (self.seq is None or self.seq == datagram.seq)
            and (self.text is None or self.text == extension.text_of(datagram))
        )

    def expected_time(self, previous: float) -> float | None:
        """When the datagram is due, given the time of the previous matched line (0 if none)."""
        if self.at is None:
            return None
        return previous + self.at if self.relative else self.at

    def time_ok(self, t: float, previous: float) -> bool:
        due = self.expected_time(previous)
        return due is None or abs(t - due) <= self.tolerance + 1e-9


@dataclass(frozen=True, kw_only=True)
class CountExpect:
    """`count: {alice > bob SYN: 3}`: datagrams matching `line` number from `low` to `high`."""

    line: WireLine
    low: int
    high: int | None  # None: no upper bound

    def ok(self, n: int) -> bool:
        return self.low <= n and (self.high is None or n <= self.high)

    def describe(self) -> str:
        if self.high == self.low:
            return str(self.low)
        return f">={self.low}" if self.high is None else f"{self.low}-{self.high}"


def frozen_map(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, kw_only=True)
class Expect:
    """What must hold when the steps are done; an empty field is not checked.

    delivered: per host, the exact list of messages its client received, in order.
    notices:   per host, notices that must appear in this order (others may come between).
    wire:      datagrams that must appear in this order (others may come between).
    count:     how many sent datagrams match each pattern.
    final:     per host, its state at the end (FINAL_STATES).
    malformed: per host, how many malformed datagrams its daemon counted.
    """

    delivered: Mapping[str, tuple[str, ...]] = field(default_factory=frozen_map)
    notices: Mapping[str, tuple[Notice, ...]] = field(default_factory=frozen_map)
    wire: tuple[WireLine, ...] = ()
    count: tuple[CountExpect, ...] = ()
    final: Mapping[str, str] = field(default_factory=frozen_map)
    malformed: Mapping[str, int] = field(default_factory=frozen_map)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One parsed scenario file.  `source` is the file it came from."""

    name: str
    source: str
    description: str = ""
    seed: int = 0
    daemon: DaemonOptions = field(default_factory=DaemonOptions)
    hosts: tuple[Host, ...]
    faults: tuple[F.Rule, ...] = ()
    steps: tuple[Step, ...]
    expect: Expect = field(default_factory=Expect)
    known_limit: str | None = None
    seed_bound: str | None = None  # why the expectations hold for `seed` only (None: for any seed)
    time_limit: float = DEFAULT_TIME_LIMIT
    # a step that cannot be carried out is skipped and recorded instead of ending the run
    # (`on_step_failure: continue`), and accept/decline/say wait at most `step_wait` for their
    # precondition: generated schedules (python -m sim explore) need both
    continue_on_step_failure: bool = False
    step_wait: float = DEFAULT_WITHIN

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def fault_plan(self) -> F.FaultPlan:
        """A fresh FaultPlan for one run of this scenario."""
        return F.FaultPlan(self.faults, self.seed)
