"""A benchmark step in a Python process of its own, read back from its last output line.

Benchmarks run a step in a child process where what they measure belongs to a process:
peak resident memory (VmHWM), or a setting fixed when JAX starts its backend (the number
of CPU devices and the size of XLA's thread pool). Every benchmark prints one JSON object
as its last stdout line, so a child is read the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping


def run_json(*args: str, env: Mapping[str, str] | None = None) -> dict:
    """``python *args`` (this interpreter) in a child process; the JSON object of its last
    stdout line. Its stderr (progress, errors) goes to this process's stderr.

    Raises:
      subprocess.CalledProcessError: the child exited with a non-zero status.
    """
    done = subprocess.run(
        [sys.executable, *args], env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
