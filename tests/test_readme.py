"""The README's example variant is real code that trains."""

import re
from pathlib import Path

from helpers import tiny_toy, trainer

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_variant_example_trains():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(block for block in blocks if "class RelativisticGAN" in block)
    assert len(example.strip().splitlines()) < 40
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    model = namespace["RelativisticGAN"](hidden_dim=16, num_layers=1)
    trainer(limit_train_batches=3).fit(model, tiny_toy())
    assert model.generator_steps == 3
