"""Progress of long loops: a bar on a terminal, a few lines in a log.

Every long loop (training steps, KIP steps, DP-FTRL rounds, a benchmark's
sweep) reports through `Progress` (or `track`, or `keras_progress` for
`fit`). On a terminal it is a tqdm bar with rate and time left. Anywhere
else (CI, a log file, a Vertex AI step's log, where a bar's carriage returns
make one endless line) it writes an absl INFO line only when both 10 % of the
work and 30 s have passed since the last one: at most 9 lines per loop, and
none for a loop shorter than 30 s. The per-epoch lines of earlier versions
come back with `verbose()` (`frontier run --verbose`, or
`FRONTIER_VERBOSE=1` in a step's environment).

Environment:
  FRONTIER_PROGRESS: `bar`, `lines` or `off` (default: `bar` when stderr is a
    terminal, else `lines`).
  FRONTIER_VERBOSE: any value but empty or `0` turns on per-epoch, per-round
    and detail lines.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from absl import logging

VERBOSE_ENV = "FRONTIER_VERBOSE"
MODE_ENV = "FRONTIER_PROGRESS"
MODES = ("bar", "lines", "off")
LINE_FRACTION = 0.10  # of the work, between two log lines
LINE_SECONDS = 30.0  # between two log lines


def verbose() -> bool:
    """Whether per-epoch / per-round detail lines are wanted."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def detail(msg: str, *args: Any) -> None:
    """A detail line: logged at INFO when `verbose()`, else at DEBUG."""
    (logging.info if verbose() else logging.debug)(msg, *args)


def write(message: str, file: TextIO | None = None) -> None:
    """Prints `message` on `file` (default stderr) as a line of its own above any
    progress bar (tqdm clears the bar, prints, then redraws it), not into it."""
    from tqdm import tqdm

    file = file or sys.stderr
    with tqdm.external_write_mode(file=file):
        print(message, file=file, flush=True)


def show_lines() -> None:
    """Lets this module's lines through in a plain script (a benchmark): off a
    terminal they are absl INFO records, which a script that does not start
    through `absl.app` drops. Other absl INFO records stay out."""
    import logging as std_logging

    logging.set_verbosity(logging.INFO)
    std_logging.getLogger("absl").addFilter(
        lambda r: r.levelno >= std_logging.WARNING or r.pathname == __file__
    )


def mode(stream: TextIO | None = None) -> str:
    """How progress is shown on `stream` (default stderr): `MODE_ENV`, else a
    bar on a terminal and lines elsewhere."""
    chosen = os.environ.get(MODE_ENV, "")
    if chosen in MODES:
        return chosen
    stream = stream or sys.stderr
    tty = getattr(stream, "isatty", lambda: False)()
    return "bar" if tty and os.environ.get("TERM") != "dumb" else "lines"


def _metrics_text(metrics: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
    )


class Progress:
    """Progress of one loop of `total` units of work.

    Args:
      desc: what runs, e.g. "DpFtrlTrainer dp_ftrl" (starts every line).
      total: units of work, or None when unknown (lines then every 30 s).
      unit: the unit's name, e.g. "step", "round".
      stream: where a bar goes (default stderr); lines go to absl logging.
      clock: seconds, monotonic (tests pass a fake one).

    Thread-safe: `update` may be called from several threads.
    """

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc, self.total, self.unit = desc, total or None, unit
        self.n = 0
        self.mode = mode(stream)
        self._clock = clock
        self._start = self._last_time = clock()
        self._last_n = 0
        self._metrics: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                desc=desc,
                unit=unit,
                file=stream or sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, n: int = 1, **metrics: Any) -> None:
        """Adds `n` units done; `metrics` (e.g. accuracy) are shown with the progress."""
        with self._lock:
            self.n += n
            self._metrics.update(metrics)
            if self._bar is not None:
                if metrics:
                    self._bar.set_postfix_str(_metrics_text(self._metrics), refresh=False)
                self._bar.update(n)
            elif self.mode == "lines":
                now = self._clock()
                done = self.total is not None and self.n >= self.total
                enough = self.total is None or self.n - self._last_n >= LINE_FRACTION * self.total
                if enough and not done and now - self._last_time >= LINE_SECONDS:
                    self._last_time, self._last_n = now, self.n
                    logging.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """The log line for the progress so far."""
        elapsed = (self._clock() if now is None else now) - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        left = f", {(self.total - self.n) / rate:.0f} s left" if self.total and rate else ""
        shown = f": {_metrics_text(self._metrics)}" if self._metrics else ""
        return (
            f"{self.desc}: {self.n}{of} {self.unit}{share}, {rate:.3g} {self.unit}/s{left}{shown}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(
    iterable: Iterable, desc: str, total: int | None = None, unit: str = "it", **kwargs: Any
) -> Iterator:
    """Yields `iterable`'s items, showing progress (`Progress`'s arguments)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with Progress(desc, total, unit, **kwargs) as progress:
        for item in iterable:
            yield item
            progress.update(1)


def keras_progress(desc: str, train_steps: int | None = None):
    """A Keras callback showing a `fit`'s progress in steps.

    The total is epochs x steps per epoch when Keras knows them (capped by
    `train_steps`), else `train_steps`; each epoch's metrics are shown with it.
    With `verbose()`, each epoch also gets its own line, as before.
    """
    import keras

    class KerasProgress(keras.callbacks.Callback):
        # It only counts batches: Keras need not turn the logs into numbers
        # after every batch for it.
        async_safe = True

        def on_train_begin(self, logs=None):
            epochs, steps = self.params.get("epochs"), self.params.get("steps")
            total = epochs * steps if epochs and steps else None
            if train_steps:
                total = min(total, train_steps) if total else train_steps
            self.epochs = epochs
            self.progress = Progress(desc, total, "step")

        def on_train_batch_end(self, batch, logs=None):
            self.progress.update(1)

        def on_epoch_end(self, epoch, logs=None):
            values = {k: float(v) for k, v in (logs or {}).items()}
            shown = {k: v for k, v in values.items() if k in ("loss", "accuracy", "val_accuracy")}
            self.progress.update(0, epoch=f"{epoch + 1}/{self.epochs}", **shown)
            if verbose():
                of = f"/{self.epochs}" if self.epochs else ""
                logging.info("%s: epoch %d%s: %s", desc, epoch + 1, of, _metrics_text(values))

        def on_train_end(self, logs=None):
            self.progress.close()

    return KerasProgress()
