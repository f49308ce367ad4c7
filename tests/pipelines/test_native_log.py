"""Dropping TensorFlow's XLA start-up lines from file descriptor 2."""

from __future__ import annotations

import os

from frontier.pipelines import native_log

XLA_LINES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796620230.828140   15523 service.cc:145] XLA service 0x7fa8 initialized\n"
    b"I0000 00:00:1796620230.828228   15523 service.cc:153]   StreamExecutor device (0): Host\n"
    b"I0000 00:00:1796620230.877871   15523 device_compiler.h:188] Compiled cluster using XLA!\n"
)


def test_only_the_xla_startup_lines_are_dropped_and_the_rest_arrive_in_order(capfd):
    with native_log.drop_native_lines():
        os.write(2, b"before\n" + XLA_LINES + b"after\n")
        os.write(2, b"I0000 00:00:1.0 1 other.cc:1] an unrelated C++ line\npartial")
        os.write(2, b" line completed\n")
    err = capfd.readouterr().err
    assert err == (
        "before\nafter\nI0000 00:00:1.0 1 other.cc:1] an unrelated C++ line\n"
        "partial line completed\n"
    )
    # Descriptor 2 is the real stderr again.
    os.write(2, XLA_LINES[:20] + b"\n")
    assert capfd.readouterr().err == XLA_LINES[:20].decode() + "\n"
