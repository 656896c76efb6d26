"""The README's Python blocks are real code: each one runs, in a folder laid out as the
README's commands leave it (a ring run and a conditional CIFAR-10 run with checkpoints)."""

import re

import pytest
from helpers import README, tiny_toy, trainer

import lightning_gans as lg
from lightning_gans.export import export_generator

BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_variant_example_trains():
    example = next(block for block in BLOCKS if "class RelativisticGAN" in block)
    assert len(example.strip().splitlines()) < 40
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    model = namespace["RelativisticGAN"](hidden_dim=16, num_layers=1)
    trainer(limit_train_batches=3).fit(model, tiny_toy())
    assert model.generator_steps == 3


@pytest.fixture
def readme_folder(tmp_path, monkeypatch):
    """The checkpoints the README's blocks load, where its commands put them."""
    monkeypatch.chdir(tmp_path)
    ring = lg.GAN(latent_dim=2, hidden_dim=16, num_layers=1)
    cgan = lg.CGAN(data_shape=(3, 32, 32), num_classes=10, g_channels=8, d_channels=8)
    for name, model in (("gan_ring", ring), ("cgan_cifar10", cgan)):
        t = trainer(max_steps=0, max_epochs=-1)
        t.strategy.connect(model)
        t.save_checkpoint(tmp_path / "lightning_logs" / name / "version_0" / "checkpoints" / "last.ckpt")
    dcgan = lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8)
    t = trainer(max_steps=0, max_epochs=-1)
    t.strategy.connect(dcgan)
    t.save_checkpoint(tmp_path / "dcgan.ckpt", weights_only=False)
    export_generator(tmp_path / "dcgan.ckpt", tmp_path / "exported" / "dcgan_mnist")
    return tmp_path


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_python_block_of_the_readme_runs(index, readme_folder):
    namespace: dict = {"__name__": "readme"}
    exec(compile(BLOCKS[index], f"README.md block {index + 1}", "exec"), namespace)
