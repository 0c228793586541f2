"""The relay over real loopback sockets under the virtual clock, with raw UDP fake daemons."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from sim.clock import run_virtual
from sim.faults import Corrupt, Delay, Drop, Duplicate, FaultPlan, Match, Reorder, Rule, parse_nth
from sim.loopback import new_block
from sim.relay import Relay, RelayError
from sim.trace import Trace
from simp import wire

Address = tuple[str, int]


class FakeDaemon(asyncio.DatagramProtocol):
    """A raw UDP socket at a host's real address: records what arrives, sends what it is told."""

    def __init__(self) -> None:
        self.got: list[tuple[float, Address, bytes]] = []
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None
        self.on_datagram: Callable[[bytes], None] | None = None  # lets a test script replies

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.got.append((asyncio.get_running_loop().time(), addr, data))
        self.arrived.set()
        if self.on_datagram is not None:
            self.on_datagram(data)

    def texts(self) -> list[str]:
        return [wire.decode(d).describe() for _, _, d in self.got]

    async def wait_for(self, count: int, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            while len(self.got) < count:
                self.arrived.clear()
                await self.arrived.wait()


@dataclass
class Net:
    relay: Relay
    trace: Trace
    daemons: dict[str, FakeDaemon] = field(default_factory=dict)

    def send(self, src: str, dst: str, dg: wire.Datagram | bytes) -> None:
        data = dg if isinstance(dg, bytes) else wire.encode(dg)
        self.daemons[src].transport.sendto(data, self.relay.alias(dst))


def run_net(
    body: Callable[[Net], Awaitable[None]], rules: list[Rule] = (), seed: int = 0, hosts=("alice", "bob")
) -> Net:
    """Set up a relay and one fake daemon per host in a fresh loopback block, run `body`."""

    async def main() -> Net:
        loop = asyncio.get_running_loop()
        prefix = new_block()
        trace = Trace(list(hosts))
        net = Net(Relay(FaultPlan(rules, seed), trace), trace)
        for i, host in enumerate(hosts, start=1):
            real = (f"{prefix}{i}", 7777)
            _, daemon = await loop.create_datagram_endpoint(FakeDaemon, local_addr=real)
            net.daemons[host] = daemon
            await net.relay.add_host(host, real, (f"{prefix}{100 + i}", 7777))
        try:
            await body(net)
        finally:
            net.relay.close()
            for d in net.daemons.values():
                d.transport.close()
        net.relay.check()
        return net

    return run_virtual(main())


def syn(user="alice"):
    return wire.control(wire.Op.SYN, 0, user)


def chat(seq, text):
    return wire.chat(seq, "alice", text)


def test_forwarded_datagram_comes_from_the_senders_alias():
    async def body(net: Net) -> None:
        net.send("alice", "bob", syn())
        await net.daemons["bob"].wait_for(1)
        # bob replies to whatever address alice appeared at
        _, addr, _ = net.daemons["bob"].got[0]
        net.daemons["bob"].transport.sendto(wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob")), addr)
        await net.daemons["alice"].wait_for(1)

    net = run_net(body)
    assert net.daemons["bob"].texts() == ["SYN seq=0"]
    assert net.daemons["alice"].texts() == ["SYN+ACK seq=0"]
    actions = [(e.action, e.src, e.dst, e.desc) for e in net.trace.events]
    assert actions == [
        ("received", "alice", "bob", "SYN seq=0"),
        ("forwarded", "alice", "bob", "SYN seq=0"),
        ("received", "bob", "alice", "SYN+ACK seq=0"),
        ("forwarded", "bob", "alice", "SYN+ACK seq=0"),
    ]


def test_addresses_follow_the_alias_plan():
    seen: dict[str, Address] = {}

    async def body(net: Net) -> None:
        net.send("alice", "bob", syn())
        await net.daemons["bob"].wait_for(1)
        seen["from"] = net.daemons["bob"].got[0][1]
        seen["alice_alias"] = net.relay.alias("alice")
        seen["bob_real"] = net.relay.real("bob")

    net = run_net(body)
    assert seen["from"] == seen["alice_alias"]
    fwd = next(e for e in net.trace.events if e.action == "forwarded")
    assert (fwd.src_addr, fwd.dst_addr) == (seen["alice_alias"], seen["bob_real"])


def test_drop_rule_drops_and_records_the_rule():
    rules = [Rule(name="faults[0]", match=Match(op="SYN"), nth=parse_nth(1), action=Drop())]

    async def body(net: Net) -> None:
        net.send("alice", "bob", syn())
        net.send("alice", "bob", chat(0, "after"))
        await net.daemons["bob"].wait_for(1)

    net = run_net(body, rules)
    assert net.daemons["bob"].texts() == ['CHAT seq=0 "after"']
    dropped = [e for e in net.trace.events if e.action == "dropped"]
    assert [(e.n, e.desc, e.note) for e in dropped] == [(1, "SYN seq=0", "faults[0]: drop")]
    assert net.trace.dropped(1) and not net.trace.dropped(2)


def test_delay_is_applied_in_virtual_time():
    rules = [Rule(name="faults[0]", match=Match(op="CHAT"), action=Delay(low=2.5))]

    async def body(net: Net) -> None:
        await asyncio.sleep(1)
        net.send("alice", "bob", chat(0, "late"))
        await net.daemons["bob"].wait_for(1)

    net = run_net(body, rules)
    assert [(t, wire.decode(d).payload) for t, _, d in net.daemons["bob"].got] == [(3.5, "late")]
    assert [(e.action, e.t) for e in net.trace.events] == [
        ("received", 1.0),
        ("delayed", 1.0),
        ("forwarded", 3.5),
    ]


def test_duplicate_delivers_extra_copies():
    rules = [Rule(action=Duplicate(copies=2, gap=0.5))]

    async def body(net: Net) -> None:
        net.send("alice", "bob", chat(0, "twice"))
        await net.daemons["bob"].wait_for(3)

    net = run_net(body, rules)
    assert [t for t, _, _ in net.daemons["bob"].got] == [0.0, 0.5, 1.0]
    assert [e.copy for e in net.trace.events if e.action == "forwarded"] == [0, 1, 2]


def test_reorder_releases_the_held_datagram_right_after_the_next_one():
    rules = [Rule(name="faults[0]", match=Match(text="first"), action=Reorder(max_hold=10))]

    async def body(net: Net) -> None:
        net.send("alice", "bob", chat(0, "first"))
        await asyncio.sleep(1)
        net.send("alice", "bob", chat(1, "second"))
        await net.daemons["bob"].wait_for(2)

    net = run_net(body, rules)
    got = [(t, wire.decode(d).payload) for t, _, d in net.daemons["bob"].got]
    assert got == [(1.0, "second"), (1.0, "first")]
    released = [e for e in net.trace.events if e.action == "forwarded" and e.n == 1]
    assert "released after #2" in released[0].note


def test_reorder_on_another_path_does_not_release():
    rules = [Rule(match=Match(text="held"), action=Reorder(max_hold=4))]

    async def body(net: Net) -> None:
        net.send("alice", "bob", chat(0, "held"))
        await asyncio.sleep(1)
        net.send("bob", "alice", wire.control(wire.Op.ACK, 0, "bob"))  # other direction
        await net.daemons["bob"].wait_for(1)

    net = run_net(body, rules)
    assert [t for t, _, _ in net.daemons["bob"].got] == [4.0]
    assert "released after max hold" in [e for e in net.trace.events if e.action == "forwarded"][-1].note


def test_corrupted_copy_is_recorded_with_the_malformation():
    rules = [Rule(name="faults[0]", action=Corrupt(field="seq"))]

    async def body(net: Net) -> None:
        net.send("alice", "bob", chat(0, "x"))
        await net.daemons["bob"].wait_for(1)

    net = run_net(body, rules)
    assert net.daemons["bob"].got[0][2][2] == 2
    corrupted = [e for e in net.trace.events if e.action == "corrupted"]
    assert corrupted[0].desc == "malformed (sequence 2 is neither 0 nor 1)"
    assert "seq set to 0x02 (faults[0])" in corrupted[0].note


def test_datagram_from_an_unknown_address_is_recorded_and_dropped():
    async def body(net: Net) -> None:
        loop = asyncio.get_running_loop()
        stranger, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(net.relay.real("alice")[0], 9999)
        )
        stranger.sendto(wire.encode(syn("eve")), net.relay.alias("bob"))
        net.send("alice", "bob", syn())
        await net.daemons["bob"].wait_for(1)
        stranger.close()

    net = run_net(body)
    assert net.daemons["bob"].texts() == ["SYN seq=0"]
    unknown = net.trace.events[0]
    assert unknown.action == "unknown" and unknown.src.endswith(":9999") and unknown.dst == "bob"


def test_removed_host_loses_copies_in_flight_and_can_be_added_back():
    rules = [Rule(match=Match(text="slow"), action=Delay(low=5))]

    async def body(net: Net) -> None:
        real, alias = net.relay.real("bob"), net.relay.alias("bob")
        net.send("alice", "bob", chat(0, "slow"))
        await asyncio.sleep(1)
        net.relay.remove_host("bob")
        assert net.relay.hosts == ["alice"]
        await asyncio.sleep(10)
        await net.relay.add_host("bob", real, alias)
        net.send("alice", "bob", chat(1, "fast"))
        await net.daemons["bob"].wait_for(1)

    net = run_net(body, rules)
    assert [wire.decode(d).payload for _, _, d in net.daemons["bob"].got] == ["fast"]
    lost = [e for e in net.trace.events if e.action == "dropped"]
    assert lost[0].t == 5.0 and "bob left the relay" in lost[0].note


def test_add_host_rejects_duplicates():
    async def body(net: Net) -> None:
        with pytest.raises(ValueError, match="already on the relay"):
            await net.relay.add_host("bob", ("127.0.0.1", 1), ("127.0.0.1", 2))
        with pytest.raises(ValueError, match="already belongs"):
            await net.relay.add_host("carol", net.relay.real("bob"), ("127.0.0.1", 2))

    run_net(body)


def test_close_cancels_pending_copies():
    rules = [Rule(action=Delay(low=100))]

    async def body(net: Net) -> None:
        net.send("alice", "bob", chat(0, "never"))
        await asyncio.sleep(1)

    net = run_net(body, rules)
    assert net.daemons["bob"].got == []
    assert [e.action for e in net.trace.events] == ["received", "delayed"]


def test_a_failing_rule_surfaces_as_relay_error():
    class Broken(Drop):
        def apply(self, copies, rng, state, tag=""):
            raise ZeroDivisionError("boom")

    async def body(net: Net) -> None:
        net.send("alice", "bob", syn())
        net.send("alice", "bob", syn())
        await asyncio.sleep(1)

    with pytest.raises(RelayError, match="boom"):
        run_net(body, [Rule(action=Broken())])


def test_same_seed_gives_a_byte_identical_trace(tmp_path):
    """Two runs in different loopback blocks with random faults write the same JSON lines."""
    rules = [
        Rule(name="faults[0]", match=Match(src="alice"), probability=0.3, action=Drop()),
        Rule(name="faults[1]", action=Delay(low=0.0, high=0.8)),
        Rule(name="faults[2]", match=Match(op="ACK"), probability=0.2, action=Duplicate(copies=1, gap=0.1)),
        Rule(name="faults[3]", match=Match(type="chat"), probability=0.2, action=Reorder(max_hold=2)),
        Rule(name="faults[4]", probability=0.1, action=Corrupt(flip=2)),
    ]

    async def body(net: Net) -> None:
        """alice sends a message every second; bob ACKs whatever arrives after 0.2 s."""
        loop = asyncio.get_running_loop()
        bob = net.daemons["bob"]

        def ack(data: bytes) -> None:
            try:
                seq = wire.decode(data).seq
            except wire.MalformedDatagram:
                return
            net.send("bob", "alice", wire.control(wire.Op.ACK, seq, "bob"))

        bob.on_datagram = lambda data: loop.call_later(0.2, ack, data)
        for i in range(40):
            net.send("alice", "bob", chat(i % 2, f"message {i}"))
            await asyncio.sleep(1)
        await asyncio.sleep(5)

    paths = []
    for run in range(2):
        net = run_net(body, rules, seed=42)
        path = tmp_path / f"run{run}.jsonl"
        net.trace.write_jsonl(path)
        paths.append(path)
    first, second = (p.read_bytes() for p in paths)
    assert first == second
    actions = {e.action for e in net.trace.events}
    assert {"received", "forwarded", "dropped", "delayed", "duplicated", "reordered", "corrupted"} <= actions
    other = run_net(body, rules, seed=43)
    assert other.trace.jsonl().encode() != first
