"""Share a trained generator: ``python -m lightning_gans export --ckpt_path PATH --output_dir DIR``
writes a folder anyone can load without the Lightning checkpoint, and
:func:`from_pretrained` loads it (or the same folder on the Hugging Face Hub).

The folder holds:

* ``model.safetensors``: the generator's weights (its EMA copy when the model has one: the
  weights ``generate`` samples from) and the model's fixed noise, as safetensors (no pickle:
  safe to load from strangers);
* ``config.json``: what rebuilds the model (its class and constructor arguments) and what a
  user needs to sample (latent size, data shape, class count, truncation support), with the
  library version that wrote it;
* ``README.md``: a model card (Hugging Face's format) with the training step, the run's
  monitored metrics, the config that trained it (when the checkpoint sits in a run folder),
  the library version and a sample grid, ``samples.png``.

:func:`from_pretrained` rebuilds the model and loads the generator's weights into it (the
discriminator is not exported: it is freshly initialised), so ``sample``, ``sample_fixed`` and
``generate`` draw bit for bit what the checkpoint draws on the same device. A folder pushed with
:func:`push_to_hub` (or uploaded as it is) loads with ``from_pretrained("owner/name")``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from lightning_gans.base import BaseGAN
from lightning_gans.checkpoint import CheckpointError, checkpoint_class, gan_from_checkpoint, read_checkpoint
from lightning_gans.errors import ConfigurationError
from lightning_gans.version import __version__

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
GRID_FILE = "samples.png"
ONNX_FILE = "generator.onnx"
FORMAT = "lightning_gans-generator"
FORMAT_VERSION = 1
EXTRA_HINT = "pip install 'lightning_gans[export]'"


def export_generator(
    ckpt_path: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool = False, use_ema: bool = True
) -> Path:
    """Write the folder described in the module docstring for the checkpoint at ``ckpt_path``;
    returns ``output_dir``. ``use_ema=False`` exports the trained generator instead of its EMA copy."""
    from safetensors.torch import save_file

    output = Path(output_dir)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise ConfigurationError(f"{output} is not empty; choose another --output_dir or pass --overwrite.")
    checkpoint = read_checkpoint(ckpt_path)
    gan = gan_from_checkpoint(checkpoint)
    ema = use_ema and gan.generator_ema is not None
    network = gan.generator_ema if ema else gan.generator
    assert network is not None
    tensors = {f"generator.{name}": value.detach().contiguous() for name, value in network.state_dict().items()}
    tensors["fixed_noise"] = gan.get_buffer("fixed_noise").contiguous()
    if output.exists() and overwrite:
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(output / WEIGHTS_FILE), metadata={"format": FORMAT, "lightning_gans": __version__})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lightning_gans_version": __version__,
        "class": f"{type(gan).__module__}.{type(gan).__qualname__}",
        "init_args": _json_arguments(checkpoint.get("hyper_parameters") or {}),
        "weights": "ema" if ema else "generator",
        "latent_dim": gan.latent_dim,
        "data_shape": list(gan.data_shape) if gan.data_shape is not None else None,
        "num_classes": gan.num_classes or 0,
        "conditional": gan.conditional,
        "supports_truncation": gan.supports_truncation,
        "generator_steps": int(checkpoint.get("global_step", 0)),
    }
    (output / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    grid = _write_grid(gan, output / GRID_FILE)
    (output / CARD_FILE).write_text(_model_card(config, checkpoint, Path(ckpt_path), grid))
    return output


class _OnnxGenerator(torch.nn.Module):
    """The generator as ONNX sees it: ``images = G(z)`` or ``G(z, labels)``, truncation fixed."""

    def __init__(self, network: torch.nn.Module, conditional: bool, truncation_psi: float | None) -> None:
        super().__init__()
        self.network, self.conditional, self.truncation_psi = network, conditional, truncation_psi

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.truncation_psi is not None:
            return self.network(z, psi=self.truncation_psi)
        return self.network(z, labels) if self.conditional else self.network(z)


def export_onnx(
    ckpt_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    overwrite: bool = False,
    use_ema: bool = True,
    truncation_psi: float | None = None,
) -> Path:
    """Write the checkpoint's generator as ``<output_dir>/generator.onnx`` (PyTorch's dynamo
    exporter, opset 18): inputs ``z`` ``(batch, latent_dim)`` float32 and, for conditional
    models, ``labels`` ``(batch,)`` int64, with a dynamic batch size; output ``images`` in
    ``[-1, 1]``. StyleGAN2's truncation is fixed at export (``truncation_psi``). Needs the
    ``[export]`` extra (``onnx``, ``onnxscript``; ``onnxruntime`` to run it)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigurationError(f"--format onnx needs onnx and onnxscript: {EXTRA_HINT}.") from None
    output = Path(output_dir)
    target = output / ONNX_FILE
    if target.exists() and not overwrite:
        raise ConfigurationError(f"{target} exists; choose another --output_dir or pass --overwrite.")
    gan = gan_from_checkpoint(read_checkpoint(ckpt_path))
    if truncation_psi is not None and not gan.supports_truncation:
        raise ConfigurationError(f"truncation_psi applies to StyleGAN2's style mapping; {type(gan).__name__} has none.")
    network = gan.generator_ema if use_ema and gan.generator_ema is not None else gan.generator
    assert network is not None
    module = _OnnxGenerator(network.eval(), gan.conditional, truncation_psi).eval()
    z = gan.sample_noise(2, torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch")
    args: tuple[torch.Tensor, ...] = (z, torch.zeros(2, dtype=torch.long)) if gan.conditional else (z,)
    names = ["z", "labels"][: len(args)]
    shapes = tuple({0: batch} for _ in args)
    output.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module, args, str(target), input_names=names, output_names=["images"], dynamic_shapes=shapes,
            dynamo=True, verbose=False,
        )  # fmt: skip
    return target


def from_pretrained(name_or_path: str | os.PathLike, map_location: Any = "cpu", revision: str | None = None) -> BaseGAN:
    """The model of an exported folder (or a Hugging Face Hub repository ``"owner/name"``), with
    the exported generator's weights, in eval mode. Needs no Lightning checkpoint.

    Example:
        >>> import tempfile, lightning as L, torch
        >>> from lightning_gans import GAN
        >>> from lightning_gans.export import export_generator, from_pretrained
        >>> gan = GAN(hidden_dim=8, num_layers=1, ema_decay=0.9)
        >>> trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        ...                     enable_model_summary=False)
        >>> trainer.fit(gan, torch.utils.data.DataLoader(torch.randn(64, 2), batch_size=32))
        >>> folder = tempfile.mkdtemp()
        >>> trainer.save_checkpoint(f"{folder}/gan.ckpt")
        >>> _ = export_generator(f"{folder}/gan.ckpt", f"{folder}/exported")
        >>> shared = from_pretrained(f"{folder}/exported")
        >>> torch.equal(shared.sample_fixed(), gan.eval().sample_fixed())  # the EMA generator's samples
        True
    """
    folder = _resolve(name_or_path, revision)
    config_path = folder / CONFIG_FILE
    if not (folder / WEIGHTS_FILE).is_file() or not config_path.is_file():
        raise CheckpointError(
            f"{folder} is not an exported lightning_gans generator (it needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "write one with: python -m lightning_gans export --ckpt_path PATH --output_dir DIR."
        )
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT:
        found = config.get("format")
        raise CheckpointError(f"{config_path} is not a lightning_gans generator's config (format {found!r}).")
    cls = checkpoint_class({"lightning_gans_class": config["class"]})
    try:
        gan = cls(**config["init_args"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"Cannot rebuild {cls.__name__} from {config_path} ({error}); it was written by lightning_gans "
            f"{config.get('lightning_gans_version')}, this is {__version__}."
        ) from None
    from safetensors.torch import load_file

    tensors = load_file(str(folder / WEIGHTS_FILE))
    prefix = "generator."
    weights = {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}
    for network in (gan.generator, gan.generator_ema):
        if network is not None:
            network.load_state_dict(weights)
    gan.get_buffer("fixed_noise").copy_(tensors["fixed_noise"])
    if isinstance(map_location, (str, torch.device)):
        gan = gan.to(map_location)
    return gan.eval()


def push_to_hub(folder: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload an exported ``folder`` to the Hugging Face Hub as the model repository ``repo_id``
    (created if needed); returns its URL. Needs ``huggingface_hub`` and a token (``token=`` or
    ``huggingface-cli login``)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ConfigurationError(f"push_to_hub needs huggingface_hub: {EXTRA_HINT}.") from None
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model")
    return f"https://huggingface.co/{repo_id}"


def is_exported(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by :func:`export_generator`."""
    return Path(path).is_dir() and (Path(path) / CONFIG_FILE).is_file() and (Path(path) / WEIGHTS_FILE).is_file()


def _resolve(name_or_path: str | os.PathLike, revision: str | None) -> Path:
    path = Path(name_or_path)
    if path.exists() or os.path.isabs(str(name_or_path)) or str(name_or_path).count("/") != 1:
        if not path.is_dir():
            raise CheckpointError(
                f"No exported generator at {path}: pass the folder `export` wrote (with {CONFIG_FILE}), or a Hub "
                "repository id such as owner/name."
            )
        return path
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ConfigurationError(
            f"{name_or_path} is not a local folder; to download it from the Hugging Face Hub, {EXTRA_HINT}."
        ) from None
    return Path(snapshot_download(repo_id=str(name_or_path), revision=revision))


def _json_arguments(hparams: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments that JSON can hold (tuples as lists); Lightning's bookkeeping dropped."""
    arguments = {}
    for name, value in hparams.items():
        if name.startswith("_"):
            continue
        try:
            arguments[name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"The checkpoint's argument {name}={value!r} cannot be written to {CONFIG_FILE}; a model built from "
                "networks in Python cannot be exported this way: save its generator's state_dict yourself."
            ) from None
    return arguments


def _write_grid(gan: BaseGAN, path: Path) -> Path | None:
    """``samples.png``: the first 16 of the fixed noise's samples, for images; ``None`` for other data."""
    if gan.data_shape is None or len(gan.data_shape) != 3:
        return None
    from PIL import Image

    from lightning_gans.utils import to_uint8_grid

    noise, labels = gan.get_buffer("fixed_noise")[:16], gan.fixed_labels  # 16: StyleGAN2 at 64 px takes 8 s on a CPU
    images = gan.sample(noise=noise, labels=None if labels is None else labels[:16])
    Image.fromarray(to_uint8_grid(images, nrow=4)).save(path)
    return path


def _model_card(config: dict[str, Any], checkpoint: dict[str, Any], ckpt_path: Path, grid: Path | None) -> str:
    name = config["class"].rsplit(".", 1)[-1]
    metrics = {
        str(state.get("monitor")): float(state["best_model_score"])
        for key, state in (checkpoint.get("callbacks") or {}).items()
        if isinstance(state, dict) and state.get("monitor") and state.get("best_model_score") is not None
    }
    run_config = ckpt_path.resolve().parent.parent / "config.yaml"
    lines = [
        "---",
        "library_name: lightning_gans",
        "tags: [gan, image-generation, lightning_gans]" if grid else "tags: [gan, lightning_gans]",
        "---",
        "",
        f"# {name} generator (lightning_gans {config['lightning_gans_version']})",
        "",
        f"A {name} generator trained for {config['generator_steps']:,} generator steps with lightning_gans; "
        f"the weights are its {'EMA generator' if config['weights'] == 'ema' else 'generator'}'s.",
        "",
        f"- data shape {tuple(config['data_shape'] or ())}, latent size {config['latent_dim']}, "
        f"{config['num_classes']} classes{', truncation (psi)' if config['supports_truncation'] else ''}",
        "",
        "```python",
        "from lightning_gans import from_pretrained",
        "",
        'gan = from_pretrained("THIS_FOLDER_OR_REPO_ID")',
        "images = gan.sample(16)  # in [-1, 1]",
        "```",
        "",
        "or `python -m lightning_gans generate --ckpt_path THIS_FOLDER --num_samples 64`.",
        "",
    ]
    if metrics:
        lines += ["## Metrics (best during training)", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {key} | {value:.4g} |" for key, value in sorted(metrics.items())] + [""]
    if grid is not None:
        lines += ["## Samples", "", f"![samples]({grid.name})", ""]
    if run_config.is_file():
        lines += ["## Training config", "", "```yaml", run_config.read_text().rstrip(), "```", ""]
    return "\n".join(lines)
