"""``export`` and ``from_pretrained``: a trained generator leaves the library as safetensors, a
config and a model card, and comes back sampling bit for bit what its checkpoint samples."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch
from helpers import run_in_process, tiny_toy, trainer
from test_stylegan2 import tiny as tiny_stylegan2
from test_variants import small
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.export import EXTRA_HINT, export_generator, from_pretrained, push_to_hub


def _trained_checkpoint(model: lg.BaseGAN, folder: Path) -> Path:
    """Two training steps of ``model`` (so the EMA copy differs from the generator), saved."""
    if model.data_shape == (2,):
        data = tiny_toy(num_samples=64, batch_size=32)
    else:
        images = torch.rand(16, *model.data_shape) * 2 - 1
        labels = torch.randint(0, max(model.num_classes or 1, 1), (16,))
        data = DataLoader(TensorDataset(images, labels), batch_size=8)
    fitted = trainer(max_steps=2, max_epochs=-1)
    fitted.fit(model, data)
    path = folder / "model.ckpt"
    fitted.save_checkpoint(path, weights_only=False)
    return path


MODELS = {
    "GAN (2-D, EMA)": lambda: lg.GAN(hidden_dim=8, num_layers=1, ema_decay=0.5),
    "DCGAN (EMA)": lambda: small(lg.DCGAN, ema_decay=0.5),
    "CGAN (conditional)": lambda: small(lg.CGAN),
    "StyleGAN2 (truncation)": lambda: tiny_stylegan2(ema_decay=0.5),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_an_exported_generator_samples_bit_for_bit_what_its_checkpoint_samples(tmp_path, name):
    checkpoint = _trained_checkpoint(MODELS[name](), tmp_path)
    folder = export_generator(checkpoint, tmp_path / "exported")
    original, shared = lg.load_gan(checkpoint), from_pretrained(folder)
    assert type(shared) is type(original) and not shared.training
    noise = original.sample_noise(6, torch.Generator().manual_seed(1))
    labels = torch.arange(6) % original.num_classes if original.conditional else None
    assert torch.equal(shared.sample(noise=noise, labels=labels), original.sample(noise=noise, labels=labels))
    assert torch.equal(shared.sample_fixed(), original.sample_fixed())
    if original.supports_truncation:
        truncated = original.sample(noise=noise, truncation_psi=0.7)
        assert torch.equal(shared.sample(noise=noise, truncation_psi=0.7), truncated)
    config = json.loads((folder / "config.json").read_text())
    assert config["latent_dim"] == original.latent_dim and config["num_classes"] == (original.num_classes or 0)
    assert config["weights"] == ("ema" if original.generator_ema is not None else "generator")
    assert config["supports_truncation"] is original.supports_truncation
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: lightning_gans") and type(original).__name__ in card
    assert (folder / "samples.png").is_file() == (len(original.data_shape) == 3)


def test_the_cli_exports_and_generate_samples_the_folder_as_the_checkpoint(tmp_path):
    checkpoint = _trained_checkpoint(small(lg.DCGAN, ema_decay=0.5), tmp_path)
    out = run_in_process(["export", "--ckpt_path", checkpoint, "--output_dir", "exported"], cwd=tmp_path)
    assert out.returncode == 0 and "Exported" in out.stdout and "MB" in out.stdout
    for source, target in ((checkpoint, "from_checkpoint"), (tmp_path / "exported", "from_folder")):
        generated = ["generate", "--ckpt_path", source, "--num_samples", "8", "--output_dir", target, "--device", "cpu"]
        assert run_in_process(generated, cwd=tmp_path).returncode == 0
    for image in sorted((tmp_path / "from_checkpoint").glob("*.png")):
        assert image.read_bytes() == (tmp_path / "from_folder" / image.name).read_bytes(), image.name
    # A second export into the same folder is refused (one line) unless --overwrite.
    again = run_in_process(["export", "--ckpt_path", checkpoint, "--output_dir", "exported"], cwd=tmp_path)
    assert again.returncode == 1 and "--overwrite" in again.stderr.strip().splitlines()[-1]
    overwrite = ["export", "--ckpt_path", checkpoint, "--output_dir", "exported", "--overwrite"]
    assert run_in_process(overwrite, cwd=tmp_path).returncode == 0


def test_loading_what_is_not_an_exported_generator_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(lg.CheckpointError, match="needs config.json and model.safetensors"):
        from_pretrained(tmp_path)
    with pytest.raises(lg.CheckpointError, match="No exported generator at"):
        from_pretrained(tmp_path / "missing" / "folder")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed: the extra names it
    with pytest.raises(lg.ConfigurationError, match=EXTRA_HINT.replace("[", r"\[").replace("]", r"\]")):
        from_pretrained("someone/their-gan")


def test_push_to_hub_creates_the_repository_and_uploads_the_folder(tmp_path, monkeypatch):
    calls = []

    class FakeApi:  # huggingface_hub.HfApi's two calls, recorded (no network here)
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(HfApi=FakeApi))
    url = push_to_hub(tmp_path, "someone/their-gan", token="secret")
    assert url == "https://huggingface.co/someone/their-gan"
    assert calls == [
        ("token", "secret"),
        ("create_repo", "someone/their-gan", {"private": False, "exist_ok": True, "repo_type": "model"}),
        ("upload_folder", {"folder_path": str(tmp_path), "repo_id": "someone/their-gan", "repo_type": "model"}),
    ]


RGB32 = (3, 32, 32)
ONNX_MODELS = {
    "DCGAN": lambda: small(lg.DCGAN, ema_decay=0.5),
    "CGAN": lambda: small(lg.CGAN),
    "StyleGAN2, truncated": lambda: tiny_stylegan2(ema_decay=0.5),
    "GAN (MLP)": lambda: lg.GAN(hidden_dim=8, num_layers=1),
    "SNGAN (ResNet)": lambda: small(lg.SNGAN, architecture="resnet", g_channels=16, d_channels=16, data_shape=RGB32),
    "R3GAN": lambda: lg.R3GAN(data_shape=(3, 8, 8), latent_dim=8, widths=8, cardinality=2, blocks=1),
}
SLOW_ONNX = {"StyleGAN2, truncated", "GAN (MLP)", "SNGAN (ResNet)", "R3GAN"}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_ONNX else name for name in ONNX_MODELS]
)
def test_onnxruntime_reproduces_the_exported_generator(tmp_path, name):
    """``export --format onnx``: onnxruntime, at another batch size than the export's, gives the
    PyTorch generator's images within float tolerance (labels for CGAN, truncation for StyleGAN2)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    checkpoint = _trained_checkpoint(ONNX_MODELS[name](), tmp_path)
    gan = lg.load_gan(checkpoint)
    psi = 0.7 if gan.supports_truncation else None
    args = ["export", "--ckpt_path", checkpoint, "--output_dir", "onnx", "--format", "onnx"]
    out = run_in_process([*args, *(["--truncation_psi", str(psi)] if psi else [])], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    session = ort.InferenceSession(str(tmp_path / "onnx" / "generator.onnx"))
    noise = gan.sample_noise(5, torch.Generator().manual_seed(3))
    labels = torch.arange(5) % gan.num_classes if gan.conditional else None
    feeds = {"z": noise.numpy(), **({"labels": labels.numpy()} if labels is not None else {})}
    (images,) = session.run(["images"], feeds)
    expected = gan.sample(noise=noise, labels=labels, truncation_psi=psi)
    torch.testing.assert_close(torch.from_numpy(images), expected, atol=1e-4, rtol=1e-4)
