"""Fault rules: matching, occurrence counting, actions and seeded determinism (no sockets)."""

from __future__ import annotations

import pytest

from sim.faults import (
    Bernoulli,
    Corrupt,
    Delay,
    Drop,
    Duplicate,
    FaultPlan,
    GilbertElliott,
    Match,
    Reorder,
    Rule,
    parse_nth,
)
from simp import wire

SYN = wire.encode(wire.control(wire.Op.SYN, 0, "alice"))
SYN_ACK = wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob"))
ACK = wire.encode(wire.control(wire.Op.ACK, 1, "bob"))
HELLO = wire.encode(wire.chat(0, "alice", "hello world"))
GARBAGE = b"\x09\x09not a datagram"


def fate(plan: FaultPlan, data: bytes, src: str = "alice", dst: str = "bob", now: float = 0.0) -> list[float]:
    """Delays of the copies that get through (empty = dropped)."""
    return [d.delay for d in plan.decide(data, src, dst, now).deliveries]


def test_no_rules_delivers_one_unchanged_copy_at_once():
    decision = FaultPlan([], seed=1).decide(SYN, "alice", "bob", 0.0)
    assert [(d.delay, d.data, d.copy) for d in decision.deliveries] == [(0.0, SYN, 0)]
    assert not decision.dropped and decision.fired == ()


def test_drop_matches_direction_and_op():
    plan = FaultPlan([Rule(name="faults[0]", match=Match(src="bob", op="SYN+ACK"), action=Drop())])
    assert fate(plan, SYN_ACK, "bob", "alice") == []
    assert fate(plan, SYN_ACK, "alice", "bob") == [0.0]
    assert fate(plan, ACK, "bob", "alice") == [0.0]
    assert plan.decide(SYN_ACK, "bob", "alice", 0.0).fired == ("faults[0]: drop",)


@pytest.mark.parametrize(
    ("match", "hit", "miss"),
    [
        (Match(dst="bob"), SYN, None),
        (Match(type="chat"), HELLO, SYN),
        (Match(type="control"), SYN, HELLO),
        (Match(op="CHAT"), HELLO, SYN),
        (Match(seq=1), ACK, SYN),
        (Match(user="bob"), ACK, SYN),
        (Match(text="world"), HELLO, SYN),
    ],
)
def test_each_field_matcher_selects_only_matching_datagrams(match, hit, miss):
    plan = FaultPlan([Rule(match=match, action=Drop())])
    assert fate(plan, hit, "alice", "bob") == []
    if miss is not None:
        assert fate(plan, miss, "alice", "bob") == [0.0]


def test_nth_counts_matching_datagrams_only():
    plan = FaultPlan([Rule(match=Match(op="SYN"), nth=parse_nth(2), action=Drop())])
    results = [fate(plan, data) for data in (SYN, ACK, SYN, ACK, SYN)]
    assert results == [[0.0], [0.0], [], [0.0], [0.0]]


def test_nth_counts_datagrams_an_earlier_rule_dropped():
    plan = FaultPlan(
        [
            Rule(match=Match(op="SYN"), nth=parse_nth(1), action=Drop()),
            Rule(match=Match(op="SYN"), nth=parse_nth(2), action=Delay(low=1.0)),
        ]
    )
    assert [fate(plan, SYN) for _ in range(3)] == [[], [1.0], [0.0]]


def test_parse_nth_forms():
    assert parse_nth(3) == ((3, 3),)
    assert parse_nth("2-4") == ((2, 4),)
    assert parse_nth("3-") == ((3, None),)
    assert parse_nth([1, "5-6"]) == ((1, 1), (5, 6))
    for bad in (0, "4-2", "x", [], True, "-3"):
        with pytest.raises(ValueError):
            parse_nth(bad)


def test_nth_list_and_open_range():
    plan = FaultPlan([Rule(nth=parse_nth([1, "4-"]), action=Drop())])
    assert [bool(fate(plan, SYN)) for _ in range(6)] == [False, True, True, False, False, False]


def test_time_window_is_start_inclusive_until_exclusive():
    plan = FaultPlan([Rule(start=2.0, until=4.0, action=Drop())])
    assert [bool(fate(plan, SYN, now=t)) for t in (1.9, 2.0, 3.9, 4.0)] == [True, False, False, True]


def test_limit_caps_how_often_a_rule_fires():
    plan = FaultPlan([Rule(limit=2, action=Drop())])
    assert [bool(fate(plan, SYN)) for _ in range(4)] == [False, False, True, True]


def test_probability_is_reproducible_from_the_seed():
    def run(seed: int) -> list[bool]:
        plan = FaultPlan([Rule(probability=0.5, action=Drop())], seed=seed)
        return [bool(fate(plan, SYN)) for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 60 < sum(run(7)) < 140


def test_one_rule_drawing_never_changes_another_rules_choices():
    lossy = Rule(match=Match(src="bob"), probability=0.5, action=Drop())
    busy = FaultPlan([Rule(match=Match(src="alice"), action=Bernoulli(p=0.5)), lossy], seed=3)
    idle = FaultPlan([Rule(match=Match(src="nobody"), action=Drop()), lossy], seed=3)
    got_busy, got_idle = [], []
    for _ in range(50):
        fate(busy, SYN, "alice", "bob")  # draws from rule 0's generator only
        got_busy.append(bool(fate(busy, ACK, "bob", "alice")))
        got_idle.append(bool(fate(idle, ACK, "bob", "alice")))
    assert got_busy == got_idle
    assert 10 < sum(got_busy) < 40


def test_fixed_and_uniform_delay():
    assert fate(FaultPlan([Rule(action=Delay(low=0.25))]), SYN) == [0.25]
    plan = FaultPlan([Rule(action=Delay(low=1.0, high=2.0))], seed=5)
    delays = [fate(plan, SYN)[0] for _ in range(50)]
    assert all(1.0 <= d <= 2.0 for d in delays) and len(set(delays)) > 1


def test_duplicate_adds_copies_spaced_by_gap():
    decision = FaultPlan([Rule(name="r", action=Duplicate(copies=2, gap=0.5))]).decide(
        SYN, "alice", "bob", 0.0
    )
    assert [(d.delay, d.copy, d.data) for d in decision.deliveries] == [
        (0.0, 0, SYN),
        (0.5, 1, SYN),
        (1.0, 2, SYN),
    ]
    assert "duplicate 2/2" in decision.deliveries[2].note and "(r)" in decision.deliveries[2].note


def test_actions_compose_in_rule_order():
    plan = FaultPlan([Rule(action=Duplicate(copies=1)), Rule(action=Delay(low=2.0))])
    assert fate(plan, SYN) == [2.0, 2.0]
    plan = FaultPlan([Rule(action=Duplicate(copies=1)), Rule(action=Drop())])
    assert fate(plan, SYN) == []


def test_reorder_marks_copies_with_a_max_hold():
    decision = FaultPlan([Rule(action=Reorder(max_hold=3.0))]).decide(SYN, "alice", "bob", 0.0)
    assert [(d.delay, d.hold) for d in decision.deliveries] == [(0.0, 3.0)]


def test_corrupt_flip_changes_exactly_n_bytes_reproducibly():
    def flipped(seed: int) -> bytes:
        return (
            FaultPlan([Rule(action=Corrupt(flip=3))], seed=seed).decide(HELLO, "a", "b", 0).deliveries[0].data
        )

    out = flipped(1)
    assert len(out) == len(HELLO)
    assert sum(a != b for a, b in zip(out, HELLO, strict=True)) == 3
    assert flipped(1) == out


def test_corrupt_truncate_makes_a_short_datagram():
    out = FaultPlan([Rule(action=Corrupt(truncate=10))]).decide(HELLO, "a", "b", 0).deliveries[0].data
    assert out == HELLO[:10]
    with pytest.raises(wire.MalformedDatagram, match="too short"):
        wire.decode(out)


@pytest.mark.parametrize(
    ("field", "reason"),
    [("type", "unknown type"), ("op", "not valid"), ("seq", "neither 0 nor 1"), ("length", "length field")],
)
def test_corrupt_field_makes_the_datagram_malformed(field, reason):
    out = FaultPlan([Rule(action=Corrupt(field=field))]).decide(HELLO, "a", "b", 0).deliveries[0].data
    assert len(out) == len(HELLO)
    with pytest.raises(wire.MalformedDatagram, match=reason):
        wire.decode(out)


def test_corrupt_field_with_explicit_value():
    out = (
        FaultPlan([Rule(action=Corrupt(field="seq", value=1))]).decide(HELLO, "a", "b", 0).deliveries[0].data
    )
    assert wire.decode(out).seq == 1


def test_corrupt_needs_exactly_one_mode():
    with pytest.raises(ValueError):
        Corrupt()
    with pytest.raises(ValueError):
        Corrupt(flip=1, truncate=3)
    with pytest.raises(ValueError):
        Corrupt(field="user")


def test_malformed_datagrams_only_meet_rules_without_field_matchers():
    plan = FaultPlan(
        [Rule(match=Match(op="SYN"), action=Drop()), Rule(match=Match(src="alice"), action=Delay(low=1))]
    )
    assert fate(plan, GARBAGE, "alice", "bob") == [1.0]


def test_bernoulli_loss_rate_roughly_p():
    plan = FaultPlan([Rule(action=Bernoulli(p=0.3))], seed=11)
    lost = sum(not fate(plan, SYN) for _ in range(2000))
    assert 500 < lost < 700


def test_gilbert_elliott_losses_come_in_bursts():
    model = GilbertElliott(p_good_to_bad=0.05, p_bad_to_good=0.2, loss_good=0.0, loss_bad=1.0)
    plan = FaultPlan([Rule(action=model)], seed=2)
    lost = [not fate(plan, SYN) for _ in range(3000)]
    bursts = sum(1 for i in range(1, len(lost)) if lost[i] and not lost[i - 1])
    assert sum(lost) > 0
    # mean burst length is 1 / p_bad_to_good = 5, far above what independent loss would give
    assert sum(lost) / bursts > 3
    again = FaultPlan([Rule(action=model)], seed=2)
    assert [not fate(again, SYN) for _ in range(3000)] == lost


def test_limit_counts_only_actual_losses_of_a_loss_model():
    plan = FaultPlan([Rule(action=Bernoulli(p=0.5), limit=3)], seed=4)
    assert sum(not fate(plan, SYN) for _ in range(100)) == 3
