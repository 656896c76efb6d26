"""Smoke tests of benchmarks/variant_speed.py and benchmarks/data_efficiency.py's table."""

import pytest
from helpers import benchmark_script


def test_variant_speed_prints_every_variant_beside_dcgan(capsys):
    with benchmark_script("variant_speed") as script:
        script.main(["--steps", "1", "--warmup", "1", "--batch-size", "4"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms / step" not in line]
    assert len(rows) == 8 and rows[0].startswith("| DCGAN (64 channels, baseline)") and rows[0].endswith("| 1.00x |")
    assert any(row.startswith("| StyleGAN2 + ADA") for row in rows)
    assert any(row.startswith("| R3GAN (r3gan_stacked_mnist.yaml's networks)") for row in rows)


def test_data_efficiency_summary_averages_each_cell(tmp_path, capsys):
    def record(images, augment, seed, fid, p=None):
        metrics = {"fid": fid, "is": 2.0, "precision": 0.5, "recall": 0.25}
        return {"images": images, "augment": augment, "seed": seed, "steps": 100, "seconds": 60.0,
                "metrics": metrics, "fid_history": [fid + 1, fid], "ada_p": p}  # fmt: skip

    with benchmark_script("data_efficiency") as script:
        script.summarise([record(1000, "ada", 0, 3.0, 0.2), record(1000, "ada", 1, 5.0, 0.4),
                          record(1000, "none", 0, 9.0), record(10000, "none", 0, 1.0)])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| 1,000 | none | 9.00 | 9.00 | 2.00 | 0.50 | 0.25 | - | 1 | 1.0 min |"
    assert lines[3] == "| 1,000 | ADA | 4.00 | 4.00 | 2.00 | 0.50 | 0.25 | 0.30 | 2 | 1.0 min |"
    assert lines[4].startswith("| 10,000 | none | 1.00 |")


@pytest.mark.parametrize("name", ["variant_speed", "data_efficiency"])
def test_the_scripts_explain_themselves(name, capsys):
    with benchmark_script(name) as script, pytest.raises(SystemExit):
        script.main(["--help"])
    assert "python benchmarks/" in capsys.readouterr().out
