"""The Lua dissector simp/wireshark/simp.lua, run by tshark, against the scapy layers.

tshark runs with HOME pointing into tmp_path, so neither a plugin the user installed nor their
Wireshark profile takes part.  These tests skip only when tshark is absent and CI is not set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

from sim.loopback import new_block
from simp import control, wire
from simp.dissect import SIMP, SIMPControl, install_plugin, plugin_path, simp_layer
from simp.events import EndReason

STRING_FIELDS = {"user", "text", "extra", "malformed", "simpx_chat_id", "simpx_text"} | {
    name
    for _, spec in (control._REQUESTS | control._EVENTS).values()
    for name, ftype in spec
    if ftype == control.STR
}


@pytest.fixture(scope="module")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if not os.environ.get("CI"):
            pytest.skip("tshark is not installed (CI installs it; with CI set this test fails instead)")
        pytest.fail("tshark is not on PATH although CI is set: the CI job must install tshark")
    return path


def run_tshark(
    tshark: str, home: Path, capture: Path, *args: str, lua: bool = True
) -> subprocess.CompletedProcess[str]:
    """tshark on `capture`, with our Lua dissector loaded by -X unless `lua` is False."""
    command = [tshark, "-n", "-r", str(capture), *args]
    if lua:
        command[1:1] = ["-X", f"lua_script:{plugin_path()}"]
    env = {key: value for key, value in os.environ.items() if key != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert "Lua" not in done.stderr, done.stderr  # a Lua error is reported on stderr, not as a failure
    return done


def tshark_json(
    tshark: str, home: Path, capture: Path, fields: list[str], *args: str, lua: bool = True
) -> list[dict[str, str]]:
    """One dict per frame: field name -> its (single) value, only the fields the frame has."""
    extract = [arg for name in fields for arg in ("-e", name)]
    done = run_tshark(tshark, home, capture, "-T", "json", *extract, *args, lua=lua)
    frames = json.loads(done.stdout or "[]")
    return [{key: values[0] for key, values in frame["_source"]["layers"].items()} for frame in frames]


def printable(raw: bytes) -> str:
    """Text as both dissectors show it: printable ASCII as is, any other byte as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in raw)


def tshark_name(layer: type[Packet], name: str) -> str:
    if name in ("extra", "malformed") or layer is SIMP:
        return f"simp.{name}"
    return f"simp.ctl.{name}"


def all_field_names() -> list[str]:
    names = {tshark_name(layer, f.name) for layer in (SIMP, SIMPControl) for f in layer.fields_desc}
    return sorted(names)


def scapy_view(packet: Packet) -> dict[str, str]:
    """The fields the scapy layer decoded, named and written as tshark writes them."""
    layer = simp_layer(packet)
    if layer is None:
        return {}
    view = {"summary": layer.mysummary()}
    for name, value in layer.fields.items():
        if name == "extra":
            shown = value.hex()
        elif name == "user" and isinstance(layer, SIMP):
            shown = printable(value.rstrip(b"\0 "))
        elif isinstance(value, bytes):
            shown = printable(value)
        else:
            shown = str(value) if isinstance(value, str) else str(int(value))
        view[tshark_name(type(layer), name)] = shown
    return view


def tshark_view(frame: dict[str, str]) -> dict[str, str]:
    if frame.get("_ws.col.Protocol") not in ("SIMP", "SIMP-CTL"):
        return {}
    view = {"summary": f"{frame['_ws.col.Protocol']} {frame['_ws.col.Info']}"}
    for key, value in frame.items():
        if key.startswith("simp."):
            is_text = key.rsplit(".", 1)[1] in STRING_FIELDS
            view[key] = value if is_text else str(int(value, 0))
    return view


# -- the capture both dissectors read ---------------------------------------------------------


def sample_value(name: str, ftype: str) -> object:
    if name == "reason":
        return EndReason.NOT_ANSWERING.name
    return {control.STR: f"{name} value", control.U8: 1, control.U16: 7777, control.U32: 4000000000}[ftype]


def every_control_kind() -> list[bytes]:
    """One well-formed message of each kind in control.py's table, built with the scapy layer."""
    messages = []
    for ident, (kind, (_, spec)) in enumerate((control._REQUESTS | control._EVENTS).items(), start=1):
        values = {name: sample_value(name, ftype) for name, ftype in spec}
        data = bytes(SIMPControl(kind=kind[0], id=ident, **values))
        control.decode(data)  # well formed, by the codec's judgement
        messages.append(data)
    return messages


def datagrams() -> list[bytes]:
    hello = wire.encode(wire.chat(0, "test", "Hello World"))
    well_formed = [
        wire.encode(wire.control(op, 1, "alice", "busy" if op is wire.Op.ERR else "")) for op in wire.Op
    ]
    well_formed += [
        hello,
        wire.encode(wire.chat(1, "bob", "a long line of chat text that the summary cuts short")),
        hello[:3] + b"test".ljust(32) + hello[35:],  # space padding, accepted
        wire.encode(wire.control(wire.Op.SYN, 0, "alice", "ignored payload")),
        # SIMPX/1 (docs/EXTENSION.md): tagged chat, ACK and FIN (crossing id), and a near miss
        wire.encode(wire.chat(1, "carol", "SIMPX/1 4bce.1.2c0d22 2\nHello World")),
        wire.encode(wire.control(wire.Op.ACK, 1, "carol", "SIMPX/1 4bce.1.2c0d22 2\n")),
        wire.encode(wire.control(wire.Op.FIN, 0, "carol", "SIMPX/1 a.1.0+b.1.0 3\n")),
        wire.encode(wire.chat(0, "carol", "SIMPX/1 4bce.1.0 01\nnot a tag")),
    ]
    broken = [
        hello[:5],
        hello[:20],
        hello[:45],
        hello + b"zz",
        b"\x03" + hello[1:],
        b"\x01\x12" + hello[2:],
        hello[:2] + b"\x02" + hello[3:],
        hello[:3] + b"al\xe9".ljust(32, b"\0") + hello[35:],
        hello[:39] + b"Hello W\xf6rld",
    ]
    return well_formed + broken


def malformed_count() -> int:
    """How many datagrams of the mixed capture the codecs call malformed."""
    daemon = sum(isinstance(SIMP(data).datagram(), str) for data in datagrams())
    return daemon + sum(SIMPControl(data).reason() is not None for data in broken_control())


def broken_control() -> list[bytes]:
    connect = bytes(SIMPControl(kind="Connect", id=1, user="alice"))
    return [
        b"C\0\0",
        b"Z\0\0\0\1abc",
        b"'\0\0\0\1",
        connect[:-1],
        connect[:6],
        connect + b"!",
        b"M\0\0\0\1\0\2\xc3\xa9",
    ]


@pytest.fixture
def mixed_capture(tmp_path: Path) -> Path:
    prefix = new_block()
    a, b = f"{prefix}1", f"{prefix}2"
    packets = [IP(src=a, dst=b) / UDP(sport=7777, dport=7777) / Raw(data) for data in datagrams()]
    packets += [IP(src=a, dst=b) / UDP(sport=40000, dport=7778) / Raw(data) for data in every_control_kind()]
    packets += [IP(src=b, dst=a) / UDP(sport=7778, dport=40000) / Raw(data) for data in broken_control()]
    packets.append(IP(src=a, dst=b) / UDP(sport=5353, dport=5353) / Raw(b"not simp"))
    path = tmp_path / "mixed.pcap"
    wrpcap(str(path), packets)
    return path


# -- tests ------------------------------------------------------------------------------------


def lua_source() -> str:
    return plugin_path().read_text()


def test_lua_kind_table_mirrors_control_py() -> None:
    rows = re.findall(r'^\s*(\w) = \{ "(\w+)", "([^"]*)" \},$', lua_source(), re.MULTILINE)
    lua = {
        letter.encode(): (name, [tuple(field.split(":")) for field in spec.split()])
        for letter, name, spec in rows
    }
    python = {
        kind: (cls.__name__, spec) for kind, (cls, spec) in (control._REQUESTS | control._EVENTS).items()
    }
    assert lua == python


def test_lua_end_reasons_mirror_events() -> None:
    rows = re.findall(r'\[(\d+)\] = "(\w+)"', lua_source().split("local END_REASONS", 1)[1].split("}", 1)[0])
    assert {int(value): name for value, name in rows} == {int(reason): reason.name for reason in EndReason}


def test_tshark_decodes_simp_fields_with_the_lua_script(tshark: str, tmp_path: Path) -> None:
    prefix = new_block()
    packets = [
        IP(src=f"{prefix}1", dst=f"{prefix}2") / UDP(sport=7777, dport=7777) / Raw(data)
        for data in (
            wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob")),
            wire.encode(wire.chat(1, "alice", "hi")),
        )
    ]
    wrpcap(str(tmp_path / "two.pcap"), packets)
    fields = ["simp.type", "simp.op", "simp.seq", "simp.user", "simp.length", "simp.text", "_ws.col.Info"]
    frames = tshark_json(tshark, tmp_path, tmp_path / "two.pcap", fields)
    assert frames == [
        {
            "simp.type": "0x01",
            "simp.op": "0x06",
            "simp.seq": "0",
            "simp.user": "bob",
            "simp.length": "0",
            "simp.text": "",
            "_ws.col.Info": "SYN+ACK seq=0 bob",
        },
        {
            "simp.type": "0x02",
            "simp.op": "0x01",
            "simp.seq": "1",
            "simp.user": "alice",
            "simp.length": "2",
            "simp.text": "hi",
            "_ws.col.Info": 'CHAT seq=1 alice "hi"',
        },
    ]


def test_scapy_and_tshark_agree_field_by_field(tshark: str, tmp_path: Path, mixed_capture: Path) -> None:
    frames = tshark_json(
        tshark, tmp_path, mixed_capture, ["_ws.col.Protocol", "_ws.col.Info", *all_field_names()]
    )
    packets = rdpcap(str(mixed_capture))
    assert len(frames) == len(packets)
    for number, (packet, frame) in enumerate(zip(packets, frames, strict=True), start=1):
        assert tshark_view(frame) == scapy_view(packet), f"frame {number}: {bytes(packet[UDP].payload)!r}"
    assert sum(1 for frame in frames if "simp.malformed" in frame) == malformed_count() == 16


@pytest.mark.parametrize(
    ("display_filter", "expected"),
    [
        ("simp.op == 0x06", ["SYN+ACK seq=1 alice"]),
        (
            "simp.op.syn == 1 && simp.type == 1 && !simp.malformed",
            ["SYN seq=1 alice", "SYN+ACK seq=1 alice", "SYN seq=0 alice"],
        ),
        ('simp.user == "bob"', ['CHAT seq=1 bob "a long line of chat text that the sum..."']),
        ("simp.ctl.kind == 0x52", ['Reply id=12 ok=1 text="text value"']),
        (
            "simp.ctl.reason == 3",
            ['ChatEnded id=19 host="host value" port=7777 user="user value" reason=NOT_ANSWERING count=7777'],
        ),
        ("simp.seq == 2", ["malformed (sequence 2 is neither 0 nor 1)"]),
        ("simp.simpx_counter == 2", ['CHAT seq=1 carol "Hello World" [4bce.1.2c0d22 #2]',
                                     "ACK seq=1 carol [4bce.1.2c0d22 #2]"]),
        ('simp.simpx_chat_id contains "+"', ["FIN seq=0 carol [a.1.0+b.1.0 #3]"]),
    ],
)
def test_display_filters_select_by_simp_fields(
    tshark: str, tmp_path: Path, mixed_capture: Path, display_filter: str, expected: list[str]
) -> None:
    frames = tshark_json(tshark, tmp_path, mixed_capture, ["_ws.col.Info"], "-Y", display_filter)
    assert [frame["_ws.col.Info"] for frame in frames] == expected


def test_malformed_packets_carry_an_expert_warning(tshark: str, tmp_path: Path, mixed_capture: Path) -> None:
    fields = ["simp.malformed", "_ws.expert.severity", "_ws.expert.group", "_ws.expert.message"]
    frames = tshark_json(tshark, tmp_path, mixed_capture, fields, "-Y", "simp.malformed.expert")
    assert len(frames) == malformed_count()
    for frame in frames:
        assert frame["_ws.expert.message"] == f"Malformed SIMP: {frame['simp.malformed']}"
        assert int(frame["_ws.expert.severity"], 0) == 0x00600000  # PI_WARN
        assert int(frame["_ws.expert.group"], 0) == 0x07000000  # PI_MALFORMED


def test_ports_are_preferences(tshark: str, tmp_path: Path) -> None:
    data = wire.encode(wire.chat(0, "alice", "moved"))
    wrpcap(str(tmp_path / "moved.pcap"), [IP() / UDP(sport=9777, dport=9777) / Raw(data)])
    default = tshark_json(tshark, tmp_path, tmp_path / "moved.pcap", ["_ws.col.Protocol"])
    moved = tshark_json(
        tshark, tmp_path, tmp_path / "moved.pcap", ["_ws.col.Info"], "-o", "simp.daemon_port:9777"
    )
    assert default == [{"_ws.col.Protocol": "UDP"}]
    assert moved == [{"_ws.col.Info": 'CHAT seq=0 alice "moved"'}]


def test_installed_plugin_is_loaded_without_the_x_option(tshark: str, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    folders = subprocess.run(
        [tshark, "-G", "folders"], capture_output=True, text=True, env=env, timeout=60
    ).stdout
    personal = re.search(r"^Personal Lua Plugins:\s*(.+)$", folders, re.MULTILINE)
    assert personal is not None, folders
    installed = install_plugin(Path(personal.group(1).strip()))
    assert installed.parent == tmp_path / ".local" / "lib" / "wireshark" / "plugins"
    wrpcap(str(tmp_path / "one.pcap"), [IP() / UDP() / SIMP(type="CONTROL", op="FIN", seq=1, user="bob")])
    frames = tshark_json(tshark, tmp_path, tmp_path / "one.pcap", ["_ws.col.Info"], lua=False)
    assert frames == [{"_ws.col.Info": "FIN seq=1 bob"}]
