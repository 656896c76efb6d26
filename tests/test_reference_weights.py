"""The refactoring guard ``benchmarks/reference_weights.py``: a saved run compares as
bit-identical with itself, and a changed update is caught with its largest difference."""

import torch
from helpers import benchmark_script


def test_the_same_code_compares_bit_identical_and_a_change_is_named(tmp_path, capsys):
    with benchmark_script("reference_weights") as script:
        saved = tmp_path / "before.pt"
        script.main(["--save", str(saved), "--only", "GAN"])
        script.main(["--compare", str(saved), "--only", "GAN"])
        rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| GAN")]
        assert rows[-1:] == ["| GAN | bit-identical |"]
        states = torch.load(saved)
        states["GAN"]["model.generator.net.0.weight"] += 1e-3
        torch.save(states, saved)
        script.main(["--compare", str(saved), "--only", "GAN"])
        assert "| GAN | max |diff| 0.001 at model.generator.net.0.weight |" in capsys.readouterr().out
