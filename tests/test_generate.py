"""Using a trained model: load_gan and ``python -m lightning_gans generate``."""

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIGS, tiny_gan, tiny_toy, trainer
from PIL import Image
from test_variants import RandomImages, small

import lightning_gans as lg
from lightning_gans.checkpoint import CheckpointError
from lightning_gans.cli import main as cli_main
from lightning_gans.generate import generate_samples
from lightning_gans.generate import main as generate_main
from lightning_gans.rejection import rejection_sample


def fit_and_save(model, data, path: Path, steps: int = 3) -> Path:
    fitted = trainer(limit_train_batches=steps)
    fitted.fit(model, data)
    fitted.save_checkpoint(path)
    return path


def parameters_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory) -> Path:
    """A ring GAN trained through the CLI (subclass mode), as users train it."""
    root = tmp_path_factory.mktemp("cli_fit")
    cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "gan_ring.yaml"),
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=4",
            "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false",
            "--data.num_samples=2000",
            "--model.hidden_dim=16",
            f"--trainer.logger.init_args.save_dir={root}",
            "--trainer.callbacks.init_args.every_n_batches=100",
            f"--trainer.default_root_dir={root}",
        ]
    )
    (checkpoint,) = root.rglob("*.ckpt")
    return checkpoint


def read_points(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path) as file:
        rows = list(csv.reader(file))
    return rows[0], np.array(rows[1:], dtype=float)


def test_cli_checkpoints_load_with_load_gan_and_load_from_checkpoint(cli_checkpoint):
    gan = lg.load_gan(cli_checkpoint)
    assert type(gan) is lg.GAN and not gan.training
    assert gan.hparams.hidden_dim == 16 and gan.generator_steps == 4
    same = lg.GAN.load_from_checkpoint(cli_checkpoint)  # Lightning's own call works too
    assert type(same) is lg.GAN and parameters_equal(gan, same)


def test_generate_writes_points_reproducibly(cli_checkpoint, tmp_path, capsys):
    args = ["generate", "--ckpt_path", str(cli_checkpoint), "--num_samples", "300", "--seed", "7"]
    cli_main([*args, "--output_dir", str(tmp_path / "a")])
    assert "Wrote 300 points of GAN" in capsys.readouterr().out
    cli_main([*args, "--output_dir", str(tmp_path / "b"), "--batch_size", "7"])  # other batches, same points
    header, points = read_points(tmp_path / "a" / "samples.csv")
    assert header == ["x", "y"] and points.shape == (300, 2)
    np.testing.assert_allclose(points, read_points(tmp_path / "b" / "samples.csv")[1], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "a" / "scatter.png").is_file()
    # The points are the model's samples from the seed's noise.
    gan = lg.load_gan(cli_checkpoint)
    expected = gan.sample(noise=gan.sample_noise(300, torch.Generator().manual_seed(7)))
    np.testing.assert_allclose(points, expected.numpy(), rtol=1e-6, atol=1e-7)
    cli_main([*args[:-1], "8", "--output_dir", str(tmp_path / "c")])
    assert not np.array_equal(points, read_points(tmp_path / "c" / "samples.csv")[1])


def test_generate_with_rejection_sampling_writes_the_accepted_samples(cli_checkpoint, tmp_path, capsys):
    args = ["generate", "--ckpt_path", str(cli_checkpoint), "--num_samples", "400", "--seed", "3"]
    cli_main([*args, "--output_dir", str(tmp_path / "plain")])
    cli_main([*args, "--output_dir", str(tmp_path / "drs"), "--rejection_quantile", "0.8"])
    out = capsys.readouterr().out
    rate = float(re.search(r"rejection sampling: ([\d.]+)% accepted", out).group(1))
    assert 5 < rate < 50  # quantile 0.8 keeps about a fifth of the draws
    # The points are rejection_sample's from the seed (its math: tests/test_rejection.py), not the plain ones.
    gan = lg.load_gan(cli_checkpoint)
    expected = rejection_sample(gan, 400, 0.8, generator=torch.Generator().manual_seed(3)).samples
    kept = read_points(tmp_path / "drs" / "samples.csv")[1]
    np.testing.assert_allclose(kept, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(kept, read_points(tmp_path / "plain" / "samples.csv")[1])


def test_images_with_ema_round_trip_through_a_python_checkpoint(tmp_path):
    model = small(lg.DCGAN, ema_decay=0.9)
    path = fit_and_save(model, RandomImages(batch_size=8), tmp_path / "dcgan.ckpt")
    gan = lg.load_gan(path)
    assert type(gan) is lg.DCGAN and gan.generator_ema is not None
    assert parameters_equal(gan, model.cpu())
    result = generate_samples(gan, tmp_path / "out", num_samples=10, seed=3, batch_size=4)
    pngs = sorted((tmp_path / "out").glob("sample_*.png"))
    assert [p.name for p in pngs] == [f"sample_{i:06d}.png" for i in range(10)]
    assert result.preview == tmp_path / "out" / "grid.png" and result.preview.is_file()
    # Each PNG holds the EMA generator's sample, rounded to uint8.
    noise = gan.sample_noise(10, torch.Generator().manual_seed(3))
    with torch.no_grad():
        ema_images = gan.generator_ema(noise)
    expected = ((ema_images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()
    written = np.stack([np.asarray(Image.open(p)) for p in pngs])
    assert written.shape == (10, 28, 28)
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1  # float32 vs float64 rounding at .5
    generate_samples(gan, tmp_path / "raw", num_samples=10, seed=3, use_ema=False)
    assert not np.array_equal(
        written, np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "raw").glob("sample_*.png"))])
    )


def test_generate_truncates_stylegan2_and_refuses_truncation_elsewhere(tmp_path, capsys):
    model = lg.StyleGAN2(
        data_shape=(1, 32, 32), latent_dim=16, w_dim=16, mapping_layers=2, g_channels=8, d_channels=8, channel_base=256
    )
    path = fit_and_save(model, RandomImages(batch_size=8, shape=(1, 32, 32)), tmp_path / "stylegan2.ckpt")
    generate_main(["--ckpt_path", str(path), "--num_samples", "4", "--truncation_psi", "0",
                   "--output_dir", str(tmp_path / "average")])  # fmt: skip
    assert "truncation psi 0.0" in capsys.readouterr().out
    average = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "average").glob("sample_*.png"))]
    assert len(average) == 4 and all(np.array_equal(a, average[0]) for a in average)  # psi 0: w = w_avg
    generate_main(["--ckpt_path", str(path), "--num_samples", "4", "--output_dir", str(tmp_path / "plain")])
    plain = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "plain").glob("sample_*.png"))]
    assert not all(np.array_equal(a, plain[0]) for a in plain)

    dcgan = fit_and_save(small(lg.DCGAN), RandomImages(batch_size=8), tmp_path / "dcgan.ckpt", steps=1)
    with pytest.raises(SystemExit):
        cli_main(["generate", "--ckpt_path", str(dcgan), "--truncation_psi", "0.7", "--output_dir", str(tmp_path)])
    assert "--truncation_psi applies to StyleGAN2" in capsys.readouterr().err


def test_conditional_labels(tmp_path):
    path = fit_and_save(small(lg.CGAN), RandomImages(batch_size=8, shape=(1, 28, 28)), tmp_path / "cgan.ckpt", steps=1)
    generate_main(
        ["--ckpt_path", str(path), "--num_samples", "5", "--labels", "3", "5", "--output_dir", str(tmp_path / "o")]
    )
    names = sorted(p.name for p in (tmp_path / "o").glob("sample_*.png"))
    assert names == [
        "sample_000000_class3.png",
        "sample_000001_class5.png",
        "sample_000002_class3.png",
        "sample_000003_class5.png",
        "sample_000004_class3.png",
    ]
    gan = lg.load_gan(path)
    with pytest.raises(lg.ConfigurationError, match="not classes of this model: use 0 to 9"):
        generate_samples(gan, tmp_path / "x", num_samples=2, labels=[10])


def test_labels_on_an_unconditional_model_are_an_error(tmp_path, capsys):
    path = fit_and_save(tiny_gan(), tiny_toy(), tmp_path / "gan.ckpt", steps=1)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["generate", "--ckpt_path", str(path), "--labels", "1", "--output_dir", str(tmp_path / "o")])
    assert exit_info.value.code == 1
    assert "GAN is unconditional, so --labels does not apply" in capsys.readouterr().err


def test_unusable_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at .*missing.ckpt"):
        lg.load_gan(tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match="is a folder"):
        lg.load_gan(tmp_path)
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        lg.load_gan(tmp_path / "text.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint"):
        lg.load_gan(tmp_path / "plain.ckpt")

    path = fit_and_save(tiny_gan(), tiny_toy(), tmp_path / "gan.ckpt", steps=1)
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["hyper_parameters"]["hidden_dim"] = 64  # weights of 32-unit layers, a model of 64
    torch.save(checkpoint, tmp_path / "resized.ckpt")
    with pytest.raises(CheckpointError, match="weights do not fit GAN"):
        lg.load_gan(tmp_path / "resized.ckpt")
    checkpoint["lightning_gans_class"] = "my_project.MyGAN"
    torch.save(checkpoint, tmp_path / "elsewhere.ckpt")
    with pytest.raises(CheckpointError, match="my_project.MyGAN, which cannot be imported"):
        lg.load_gan(tmp_path / "elsewhere.ckpt")


def test_a_gan_built_from_networks_needs_them_again(tmp_path):
    from lightning_gans.nets import MLPDiscriminator, MLPGenerator

    def networks():
        return dict(generator=MLPGenerator(2, (2,), 16, 1), discriminator=MLPDiscriminator((2,), 16, 1))

    model = lg.BaseGAN(latent_dim=2, loss="hinge", **networks())
    path = fit_and_save(model, tiny_toy(), tmp_path / "base.ckpt", steps=2)
    with pytest.raises(CheckpointError, match=r"load_gan\(path, generator=..., discriminator=...\)"):
        lg.load_gan(path)
    loaded = lg.load_gan(path, **networks())
    assert parameters_equal(loaded, model) and loaded.adversarial_loss.name == "hinge"


def test_generate_counts_the_stacked_mnist_modes_of_what_it_writes(tmp_path):
    """``count_stacked_mnist_modes`` classifies the very images written (the same noise as
    :func:`iter_samples`), so a checkpoint's mode count is reproducible from ``generate``."""
    import json

    from lightning_gans.metrics import stacked_mnist_modes
    from lightning_gans.sampling import iter_samples

    torch.manual_seed(0)
    gan = lg.DCGAN(data_shape=(3, 28, 28), latent_dim=8, g_channels=4, d_channels=4)
    result = generate_samples(gan, tmp_path / "out", 30, seed=5, batch_size=7, count_stacked_mnist_modes=True)
    expected = stacked_mnist_modes(images for images, _ in iter_samples(gan, 30, seed=5, batch_size=7))
    assert result.stacked_mnist is not None and torch.equal(result.stacked_mnist.histogram, expected.histogram)
    written = json.loads((tmp_path / "out" / "stacked_mnist.json").read_text())
    assert written == {"modes": expected.modes, "kl": pytest.approx(expected.kl), "num_images": 30}
    with pytest.raises(lg.errors.ConfigurationError, match="3-channel Stacked MNIST"):
        generate_samples(small(lg.DCGAN), tmp_path / "gray", num_samples=4, count_stacked_mnist_modes=True)
