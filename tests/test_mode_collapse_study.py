"""Smoke test of benchmarks/mode_collapse.py (PacGAN's Table 1 study): a few steps, one seed."""

import math
import re

import pytest
from helpers import benchmark_script

import lightning_gans as lg


@pytest.fixture(scope="module")
def study():
    with benchmark_script("mode_collapse") as module:
        yield module


def _number(cell: str) -> float:
    """The mean of a 'mean ± se' cell, as a fraction for percentages."""
    match = re.match(r"\*?(-?[\d.]+)(%?)", cell.strip())
    assert match, f"not a number: {cell!r}"
    value = float(match.group(1))
    return value / 100 if match.group(2) else value


def test_quick_study_table(study, tmp_path, capsys):
    output = tmp_path / "table.md"
    text = study.main(
        [
            "--quick",
            "--steps",
            "15",
            "--mixtures",
            "ring",
            "grid",
            "--variants",
            "gan",
            "pacgan4",
            "--output",
            str(output),
        ]
    )
    assert output.read_text() == text
    assert text in capsys.readouterr().out

    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == [
        "variant",
        "ring: modes",
        "ring: high-quality",
        "ring: reverse KL",
        "grid: modes",
        "grid: high-quality",
        "grid: reverse KL",
        "runs (failed)",
    ]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header)
        rows[cells[0]] = cells
    # our two variants and PacGAN's Table 1 rows for them
    assert set(rows) == {"GAN", "PacGAN4", "*GAN, PacGAN Table 1*", "*PacGAN4, PacGAN Table 1*"}
    assert rows["*PacGAN4, PacGAN Table 1*"][1:4] == ["*7.8*", "*95.9%*", "*0.07*"]

    for label in ("GAN", "PacGAN4"):
        cells = rows[label]
        assert cells[-1] == "1 / 1"  # one run per mixture, none failed
        for offset, num_modes in ((1, 8), (4, 25)):
            modes, hq, kl = (_number(c) for c in cells[offset : offset + 3])
            assert 0 <= modes <= num_modes
            assert 0.0 <= hq <= 1.0
            assert 0.0 <= kl <= math.log(num_modes) + 0.01  # table rounds to 2 decimals


def test_summary_statistics(study):
    """Mean ± standard error over seeds, failed runs counted but left out of the means."""
    runs = [
        study.RunResult("gan", "ring", seed, 1.0, modes, 8, hq, kl)
        for seed, (modes, hq, kl) in enumerate([(6, 0.9, 0.5), (8, 1.0, 0.1)])
    ] + [study.RunResult("gan", "ring", 2, 1.0, num_modes=8, error="NonFiniteLossError")]
    (row,) = study.summarise(runs, ["gan"], ["ring"])
    assert row["ring"]["modes"] == pytest.approx((7.0, 1.0))
    assert row["ring"]["runs"] == 3 and row["ring"]["failed"] == 1
    table = study.markdown_table([row], ["ring"])
    assert "| GAN | 7.0 ± 1.0 | 95.0% ± 5.0% | 0.300 ± 0.200 | 3 (1) |" in table


def test_summarise_merges_runs_logs_of_separate_processes(study, tmp_path):
    def run(mixture, seed, modes, num_modes):
        return study.RunResult("gan", mixture, seed, 1.0, modes, num_modes, 0.5, 0.1)

    import dataclasses
    import json

    for mixture, num_modes in (("ring", 8), ("grid", 25)):
        lines = [
            json.dumps(dataclasses.asdict(run(mixture, seed, modes, num_modes))) for seed, modes in ((0, 6), (1, 8))
        ]
        (tmp_path / f"{mixture}.jsonl").write_text("\n".join(lines) + "\n")
    text = study.main(
        ["--summarise", str(tmp_path / "ring.jsonl"), str(tmp_path / "grid.jsonl"), "--output", str(tmp_path / "t.md")]
    )
    gan_row = next(line for line in text.splitlines() if line.startswith("| GAN |"))
    assert "7.0 ± 1.0" in gan_row and "2 / 2" in gan_row  # mean and standard error of 6 and 8
    assert (tmp_path / "t.md").read_text() == text


def test_the_seeds_of_a_gan_variant_train_as_one_ensemble_and_the_others_one_by_one(study, tmp_path, capsys):
    log = tmp_path / "runs.jsonl"
    text = study.main(["--seeds", "2", "--steps", "5", "--mixtures", "ring", "--variants", "gan", "lsgan",
                       "--rejection-quantile", "0.5", "--runs-log", str(log)])  # fmt: skip
    import json

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((r["variant"], r["seed"], r["members"]) for r in runs) == [
        ("gan", 0, 2), ("gan", 1, 2), ("gan+drs", 0, 2), ("gan+drs", 1, 2), ("lsgan", 0, 1), ("lsgan", 1, 1),
        ("lsgan+drs", 0, 1), ("lsgan+drs", 1, 1)]  # fmt: skip
    assert "| GAN + rejection sampling (DRS, quantile 0.5) |" in text
    assert all(r["error"] is None and 0 <= r["hq_fraction"] <= 1 for r in runs)
    assert "gan      ring seeds 0-1 as one model" in capsys.readouterr().err
    # --separate-runs trains each seed of a GAN on its own
    study.main(["--seeds", "2", "--steps", "5", "--mixtures", "ring", "--variants", "gan", "--separate-runs",
                "--runs-log", str(tmp_path / "separate.jsonl")])  # fmt: skip
    separate = [json.loads(line) for line in (tmp_path / "separate.jsonl").read_text().splitlines()]
    assert [(r["seed"], r["members"]) for r in separate] == [(0, 1), (1, 1)]


def test_the_rpgan_row_is_the_recipe_with_r3gans_loss_and_penalty(study):
    """``recipe_rpgan`` changes only the loss (relativistic pairing) and the penalty (R1 + R2 of
    the recipe's gamma); its seeds still train as one ensemble."""
    settings = study.Settings(hidden_dim=8, num_layers=1)
    recipe = study.VARIANTS["recipe"].build(settings, 100, 3)
    rpgan = study.VARIANTS["recipe_rpgan"].build(settings, 100, 3)
    assert type(rpgan).__name__ == "GANEnsemble" and rpgan.members == 3
    assert rpgan.generator_sees_real and not recipe.generator_sees_real
    assert (type(rpgan.penalty), rpgan.penalty.gamma) == (lg.penalties.R1R2Penalty, 0.1)
    assert (type(recipe.penalty), recipe.penalty.gamma) == (lg.penalties.R1Penalty, 0.1)
    assert rpgan.hparams["schedules"] == recipe.hparams["schedules"]
