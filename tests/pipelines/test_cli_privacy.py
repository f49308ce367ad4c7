"""Tests of `frontier privacy`: rho and epsilon of the production DP-FTRL
configuration, calibration of the noise multiplier, the Gaussian baseline,
JSON output, and bad options that exit with 2 and a message naming them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from frontier.pipelines import cli

PRODUCTION = [
    "--noise-multiplier",
    "7.0",
    "--rounds",
    "2000",
    "--max-participations",
    "6",
    "--min-separation",
    "313",
]


def privacy(capsys, *args):
    """(exit code, stdout, stderr) of `frontier privacy ARGS`."""
    code = cli.main(["privacy", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_production_configuration_prints_rho_and_epsilon(capsys):
    code, out, err = privacy(capsys, *PRODUCTION)
    assert code == 0 and err == ""
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert "tree aggregation" in lines["mechanism"]
    assert lines["rho (zCDP)"].strip() == "0.8061"  # 79 / 98
    assert lines["epsilon"].strip() == "8.899 at delta 1e-10"  # the default delta
    assert lines["sensitivity^2"].strip().startswith("79 ")
    assert lines["min separation"].strip() == "313"
    assert float(lines["seconds"]) >= 0


def test_json_output_parses_and_holds_the_account(capsys):
    code, out, _ = privacy(capsys, *PRODUCTION, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["mechanism"] == "dp_ftrl_tree_aggregation"
    assert result["rho"] == pytest.approx(79 / 98)
    assert result["epsilon"] == pytest.approx(8.90, abs=0.005)
    assert result["delta"] == 1e-10
    assert (result["rounds"], result["max_participations"], result["min_separation"]) == (
        2000,
        6,
        313,
    )
    assert result["restart_every"] is None and result["calibrated"] is False
    assert result["target_epsilon"] is None and result["seconds"] >= 0


def test_target_epsilon_calibrates_the_noise_multiplier(capsys):
    code, out, _ = privacy(
        capsys,
        "--target-epsilon",
        "8.9",
        "--rounds",
        "2000",
        "--max-participations",
        "6",
        "--min-separation",
        "313",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["calibrated"] is True and result["target_epsilon"] == 8.9
    assert result["noise_multiplier"] == pytest.approx(7.0, abs=0.01)
    assert result["epsilon"] <= 8.9 and result["epsilon"] == pytest.approx(8.9, abs=1e-3)
    # The text form says the noise was calibrated.
    code, out, _ = privacy(
        capsys, "--target-epsilon", "8.9", *PRODUCTION[2:]
    )  # rounds, participations, separation
    assert code == 0 and "calibrated: smallest with epsilon <= 8.9" in out


def test_gaussian_mechanism_and_its_calibration(capsys):
    code, out, _ = privacy(capsys, *PRODUCTION, "--mechanism", "gaussian", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["mechanism"] == "dp_fedavg_gaussian"
    assert result["rho"] == pytest.approx(6 / 98)  # k / (2 nm^2)
    epsilon = result["epsilon"]
    code, out, _ = privacy(
        capsys,
        "--mechanism",
        "gaussian",
        "--target-epsilon",
        str(epsilon),
        "--rounds",
        "2000",
        "--max-participations",
        "6",
        "--json",
    )
    assert code == 0
    calibrated = json.loads(out)
    assert calibrated["noise_multiplier"] == pytest.approx(7.0, abs=1e-3)
    assert calibrated["epsilon"] == pytest.approx(epsilon, abs=1e-4)
    # Text: the separation caps the participations (here it does not bind: 7 > 6); the tree's
    # restart period is shown as unused.
    code, out, _ = privacy(capsys, *PRODUCTION, "--mechanism", "gaussian", "--restart-every", "100")
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert code == 0 and lines["min separation"].strip() == "313 (caps participations at 6)"
    assert lines["restart every"].strip() == "100 (not used by the gaussian mechanism)"


@pytest.mark.parametrize("mechanism", ["tree", "gaussian"])
def test_more_participations_than_the_rounds_allow_are_refused_for_both_mechanisms(
    capsys, mechanism
):
    """12 rounds at least 5 apart hold at most 3 participations of a client (0, 5, 10).

    Asking for 4 describes a run that cannot happen: both mechanisms refuse it, naming the
    option and the largest possible value, rather than account 3 without a word. At 3 the
    command gives the accountant's (and so the trainer's) account.
    """
    from frontier.components.common.errors import InputError
    from frontier.components.dp_ftrl import account

    got = cli.privacy_account(mechanism, 12, 3, 1e-5, noise_multiplier=1.0, min_separation=5)
    want = account(cli_mechanism(mechanism), 1.0, 12, 3, 5, 1e-5)
    assert (got["rho"], got["epsilon"]) == (want.rho, want.epsilon)
    if mechanism == "gaussian":
        assert got["rho"] == 3 / 2 and got["sensitivity_squared"] == 3
    for kwargs in (dict(noise_multiplier=1.0), dict(target_epsilon=got["epsilon"])):
        with pytest.raises(InputError, match=r"allow at most 3 participations"):
            cli.privacy_account(mechanism, 12, 4, 1e-5, min_separation=5, **kwargs)
    args = ["--mechanism", mechanism, "--rounds", "12", "--max-participations", "4"]
    code, out, err = privacy(capsys, *args, "--noise-multiplier", "1", "--min-separation", "5")
    assert code == 2 and out == ""
    assert err.strip() == (
        "frontier: error: --max-participations: max_participations is 4, but 12 rounds at "
        "min_separation 5 allow at most 3 participations per client (expected "
        "max_participations <= 3, or more rounds or a smaller min_separation)"
    )
    if mechanism == "gaussian":  # without a separation, the rounds alone bound it
        code, _, err = privacy(
            capsys, *args[:4], "--max-participations", "13", "--noise-multiplier", "1"
        )
        assert code == 2 and "13, but 12 rounds allow at most 12" in err


def cli_mechanism(name: str) -> str:
    """The accountant's name of a `frontier privacy --mechanism`."""
    from frontier.components.dp_ftrl import MECHANISM_GAUSSIAN, MECHANISM_TREE

    return {"tree": MECHANISM_TREE, "gaussian": MECHANISM_GAUSSIAN}[name]


@pytest.mark.parametrize(
    "args, option",
    [
        (["--noise-multiplier", "-1", *PRODUCTION[2:]], "--noise-multiplier"),
        (["--noise-multiplier", "7", "--rounds", "0", *PRODUCTION[4:]], "--rounds"),
        (
            ["--noise-multiplier", "7", "--rounds", "20", "--max-participations", "0"]
            + ["--min-separation", "3"],
            "--max-participations",
        ),
        ([*PRODUCTION[:6], "--min-separation", "0"], "--min-separation"),
        ([*PRODUCTION, "--delta", "2"], "--delta"),
        ([*PRODUCTION, "--restart-every", "0"], "--restart-every"),
        (["--target-epsilon", "0", *PRODUCTION[2:]], "--target-epsilon"),
        (PRODUCTION[:6], "--min-separation"),  # the tree needs it
    ],
)
def test_bad_option_exits_2_with_a_message_naming_it(capsys, args, option):
    code, out, err = privacy(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"frontier: error: {option}: ")
    assert "Traceback" not in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:  # neither noise nor target
        cli.main(["privacy", *PRODUCTION[2:]])
    assert e.value.code == 2
    assert "--noise-multiplier" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # both
        cli.main(["privacy", *PRODUCTION, "--target-epsilon", "8"])
    assert e.value.code == 2


def test_command_is_import_light_and_prints_no_traceback():
    """Run as a command: no TFX import, an error is one line on stderr."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        "import sys; from frontier.pipelines import cli; rc = cli.main(sys.argv[1:]); "
        "print('TFX', 'tfx' in sys.modules, 'tensorflow' in sys.modules); sys.exit(rc)"
    )
    ok = subprocess.run(
        [sys.executable, "-c", code, "privacy", *PRODUCTION],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "TFX False False" in ok.stdout and "0.8061" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-c", code, "privacy", *PRODUCTION, "--delta", "0"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "frontier: error: --delta: delta is 0.0 (expected a finite number > 0 and < 1)"
    ]
