"""Kernel filter programs: the hand-built `tcp port P` equals libpcap's, prefixes keep jumps valid."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture import bpf, sources
from netlab.errors import FilterUnavailable

needs_libpcap = pytest.mark.skipif(not bpf.libpcap_available(), reason="libpcap is not installed")


@needs_libpcap
@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=65_535), st.sampled_from([65_536, 262_144]))
def test_hand_built_port_filter_is_what_libpcap_compiles(port: int, snaplen: int) -> None:
    assert bpf.port_filter(port, snaplen) == bpf.compile_filter(f"tcp port {port}", 1, snaplen)


@needs_libpcap
def test_compiled_programs_keep_whole_loopback_frames() -> None:
    program = bpf.compile_filter("tcp port 55555 and host 127.0.0.1", 1)
    assert bpf.snaplen_of(program) == 262_144 > 65_550


@needs_libpcap
def test_bad_expression_names_libpcaps_reason() -> None:
    with pytest.raises(FilterUnavailable, match=r"bad capture filter 'tcp prt 1': .*syntax error"):
        bpf.compile_filter("tcp prt 1", 1)


def test_drop_outgoing_prefix_rejects_outgoing_and_falls_through() -> None:
    body = bpf.port_filter(80)
    program = bpf.drop_outgoing(body)
    load, test, reject = program[:3]
    assert load.k == (-0x1000 + 4) & 0xFFFFFFFF  # SKF_AD_OFF + SKF_AD_PKTTYPE
    assert (test.k, test.jt, test.jf) == (bpf.PACKET_OUTGOING, 0, 1)  # outgoing -> the reject below
    assert reject.k == 0
    assert program[3:] == body


def test_without_libpcap_expressions_fail_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpf, "LIBPCAP_NAMES", ("libpcap-not-here.so.9",))
    assert not bpf.libpcap_available()
    with pytest.raises(FilterUnavailable, match="libpcap is not installed"):
        bpf.compile_filter("tcp port 1", 1)
    with pytest.raises(FilterUnavailable, match="--filter cannot be compiled"):
        sources.build_program(1, [5], [], "udp", 262_144)


def test_without_libpcap_port_filters_are_built_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpf, "LIBPCAP_NAMES", ("libpcap-not-here.so.9",))
    program, how = sources.build_program(1, [4242], [], None, 262_144)
    assert program == bpf.port_filter(4242)
    assert "no libpcap" in how
    program, how = sources.build_program(101, [4242], [], None, 262_144)
    assert program == bpf.accept_all()
    assert "user space" in how


def test_filter_expression_combines_options() -> None:
    assert (
        sources.filter_expression([5], ["10.0.0.1"], "not port 22") == "tcp port 5 and host 10.0.0.1 and (not port 22)"
    )
    assert sources.filter_expression([5, 6], ["a", "b"], None) == "tcp and (port 5 or port 6) and (host a or host b)"
    assert sources.filter_expression([], [], None) == ""


@needs_libpcap
def test_every_combined_expression_compiles() -> None:
    expression = sources.filter_expression([5, 6], ["10.0.0.1", "::1"], "not port 22")
    assert bpf.snaplen_of(bpf.compile_filter(expression, 1)) == 262_144


def test_udp_ports_are_captured_when_udp_is_followed() -> None:
    assert sources.filter_expression([53], [], None, ("udp",)) == "udp port 53"
    assert sources.filter_expression([53], [], None, ("tcp", "udp")) == "(tcp or udp) and port 53"
    assert sources.filter_expression([5, 6], [], None, ("udp",)) == "udp and (port 5 or port 6)"


def test_without_libpcap_udp_is_not_given_the_tcp_port_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpf, "LIBPCAP_NAMES", ("libpcap-not-here.so.9",))
    program, how = sources.build_program(1, [53], [], None, 262_144, ("udp",))
    assert program == bpf.accept_all()
    assert "user space" in how


@needs_libpcap
def test_udp_expressions_compile() -> None:
    for protocols in (("udp",), ("tcp", "udp")):
        for ports in ([53], [53, 5353]):
            bpf.compile_filter(sources.filter_expression(ports, ["::1"], None, protocols), 1)
