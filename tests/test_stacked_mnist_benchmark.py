"""Smoke test of benchmarks/stacked_mnist.py: a few steps on a small digit folder, and its summary."""

import json

import numpy as np
import pytest
from helpers import benchmark_script
from PIL import Image


@pytest.fixture(scope="module")
def benchmark():
    with benchmark_script("stacked_mnist") as module:
        yield module


def test_a_short_run_and_its_summary(benchmark, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for digit in range(10):
        (tmp_path / "digits" / str(digit)).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                tmp_path / "digits" / str(digit) / f"{i}.png"
            )
    log = tmp_path / "runs.jsonl"
    args = ["--variants", "dcgan", "pacdcgan2", "--seeds", "1", "--steps", "2", "--channels", "8", "--num-eval", "300"]
    benchmark.main([*args, "--root", str(tmp_path / "digits"), "--runs-log", str(log)])
    table = capsys.readouterr().out
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["variant"] for r in runs] == ["dcgan", "pacdcgan2"]
    assert all(1 <= r["modes"] <= 300 and 0 <= r["kl"] <= 6.91 for r in runs)
    assert "| DCGAN |" in table and "| PacDCGAN2 |" in table
    assert "*PacDCGAN2, PacGAN Table 2* | *100,000* | *1000*" in table
    benchmark.main(["--summarise", str(log), "--channels", "8", "--num-eval", "300"])
    assert capsys.readouterr().out.splitlines()[:4] == table.splitlines()[:4]
