"""Dropping TensorFlow's XLA start-up lines, which no setting reaches.

Where a JAX-exported kernel runs in TensorFlow (the stock Evaluator and the
EvaluationReport on a KIP model: jax2tf's `XlaCallModule`), TensorFlow 2.16's
XLA writes four lines from C++ straight to file descriptor 2, once per process:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796620230.828140   15523 service.cc:145] XLA service 0x... initialized ...
    I0000 00:00:1796620230.828228   15523 service.cc:153]   StreamExecutor device (0): ...
    I0000 00:00:1796620230.877871   15523 device_compiler.h:188] Compiled cluster using XLA! ...

They come from Abseil's C++ logging, which TensorFlow never initialises, so
`TF_CPP_MIN_LOG_LEVEL` does not apply to them and Python's logging and
warnings never see them. `drop_native_lines` runs a block with descriptor 2
feeding a pipe; a thread copies every line to the real stderr except those
(`XLA_STARTUP`), as soon as each line is complete. `frontier run` uses it
when its stderr is not a terminal (a log, CI, a pipe), unless `--verbose`:
on a terminal, progress bars redraw a line with carriage returns, which a
line-by-line copy would hold back.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence

XLA_STARTUP = (
    re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(rb"^I\d{4} [\d:.]+ +\d+ (service\.cc|device_compiler\.h):\d+\] "),
)


@contextlib.contextmanager
def drop_native_lines(patterns: Sequence[re.Pattern] = XLA_STARTUP) -> Iterator[None]:
    """Within the block, lines written to file descriptor 2 that match one of
    `patterns` (bytes regexes) are dropped; the rest reach stderr unchanged.

    Python's `sys.stderr` writes to descriptor 2 too, so its lines go through
    the same pipe, in order. On exit descriptor 2 is restored and every line
    written before is delivered.
    """
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:  # blocks until a whole line (or the end) is there
                if not any(p.search(line) for p in patterns):
                    os.write(real, line)

    thread = threading.Thread(target=pump, name="native-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the pump reads to the end
        thread.join(timeout=10)
        os.close(real)
