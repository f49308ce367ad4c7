"""Progress: a bar on a terminal; off one, at most one line per 10 % and 30 s."""

from __future__ import annotations

import io

import pytest

from frontier.components.common import progress


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def lines(monkeypatch):
    """The log lines progress writes (absl INFO), with stderr not a terminal."""
    monkeypatch.delenv(progress.MODE_ENV, raising=False)
    monkeypatch.delenv(progress.VERBOSE_ENV, raising=False)
    written = []
    monkeypatch.setattr(progress.logging, "info", lambda msg, *a: written.append(msg % a))
    return written


def test_a_long_loop_logs_at_most_one_line_per_tenth_and_per_30_s(lines):
    clock = _Clock()
    p = progress.Progress("DpFtrlTrainer", 100, "round", stream=io.StringIO(), clock=clock)
    assert p.mode == "lines"
    for _ in range(100):
        clock.now += 4.0  # 400 s in all
        p.update(1, accuracy=0.5)
    p.close()
    assert len(lines) == 9
    assert (
        lines[0] == "DpFtrlTrainer: 10/100 round (10 %), 0.25 round/s, 360 s left: accuracy=0.5000"
    )
    assert lines[-1].startswith("DpFtrlTrainer: 90/100 round (90 %)")


def test_a_fast_loop_logs_nothing_and_a_slow_one_is_held_to_30_s(lines):
    clock = _Clock()
    fast = progress.Progress("KipDistill", 1000, "step", stream=io.StringIO(), clock=clock)
    for _ in range(1000):
        clock.now += 0.02  # 20 s in all
        fast.update()
    assert lines == []
    clock = _Clock()
    slow = progress.Progress("Trainer", 10, "step", stream=io.StringIO(), clock=clock)
    for _ in range(10):
        clock.now += 10.0
        slow.update()
    # A tenth per update, but 30 s must pass between lines: steps 3, 6, 9.
    assert [line.split(" step")[0] for line in lines] == [
        "Trainer: 3/10",
        "Trainer: 6/10",
        "Trainer: 9/10",
    ]


def test_an_unknown_total_logs_every_30_s(lines):
    clock = _Clock()
    p = progress.Progress("SplLabeler", None, "clip", stream=io.StringIO(), clock=clock)
    for _ in range(100):
        clock.now += 1.0
        p.update()
    assert len(lines) == 3 and lines[0] == "SplLabeler: 30 clip, 1 clip/s"


def test_a_terminal_gets_a_bar_with_rate_and_time_left(lines):
    import time

    screen = _Terminal()
    with progress.Progress("KipDistill", 50, "step", stream=screen) as p:
        for _ in range(50):
            time.sleep(0.01)  # tqdm redraws at most every 0.1 s
            p.update(1, loss=0.25)
    text = screen.getvalue()
    assert "KipDistill" in text and "/50 [" in text and "step/s" in text and "<00:" in text
    assert "loss=0.2500" in text and lines == []


def test_modes_can_be_forced(lines, monkeypatch):
    monkeypatch.setenv(progress.MODE_ENV, "off")
    screen = _Terminal()
    clock = _Clock()
    p = progress.Progress("x", 10, stream=screen, clock=clock)
    for _ in range(10):
        clock.now += 100
        p.update()
    assert p.mode == "off" and screen.getvalue() == "" and lines == []
    monkeypatch.setenv(progress.MODE_ENV, "lines")
    assert progress.mode(screen) == "lines"


def test_track_counts_the_items(lines):
    assert list(progress.track(range(5), "sweep", stream=io.StringIO())) == [0, 1, 2, 3, 4]


def test_keras_fit_shows_steps_and_epoch_lines_only_when_verbose(lines, monkeypatch):
    import keras
    import numpy as np

    x, y = np.zeros((32, 3), np.float32), np.zeros(32, np.int64)

    def fit():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        callback = progress.keras_progress("Trainer", train_steps=10)
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[callback])
        return callback

    callback = fit()
    assert callback.progress.total == 10 and callback.progress.n == 12  # capped total
    assert lines == []  # a few seconds: no line
    monkeypatch.setenv(progress.VERBOSE_ENV, "1")
    fit()
    assert [line.split(": loss")[0] for line in lines] == [
        f"Trainer: epoch {i}/3" for i in (1, 2, 3)
    ]


def test_write_puts_a_line_above_a_bar_not_into_it(lines):
    screen = _Terminal()
    with progress.Progress("sweep", 3, stream=screen) as p:
        p.update()
        progress.write("[bench] seed 0: accuracy 0.9", screen)
        p.update(2)
    assert "\n[bench] seed 0: accuracy 0.9\n" in screen.getvalue().replace("\r", "\n")
