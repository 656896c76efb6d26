"""``python -m lightning_gans``: LightningCLI with GAN-aware defaults, plus ``generate``.

- subclass mode for model and data, so a config names ``class_path: lightning_gans.GAN``;
- ``auto_configure_optimizers=False``: a GAN has two optimizers, injected as
  ``model.init_args.g_optimizer`` / ``d_optimizer`` (LightningCLI's automatic optimizer
  would replace them with one optimizer over all parameters);
- the datamodule's ``data_shape`` and ``num_classes`` are linked into the model, so a
  config does not repeat them;
- the saved ``config.yaml`` is overwritten on a second run into the same folder.
"""

from __future__ import annotations

import sys

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info

from lightning_gans.base import BaseGAN
from lightning_gans.errors import GANError


class SaveConfigToLogger(SaveConfigCallback):
    """Writes ``config.yaml`` to the log folder (overwriting on re-runs) and also hands the
    whole resolved config to the logger as hyperparameters, so a W&B run shows it."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.logger is not None:
            config = self.parser.dump(self.config, skip_none=False, format="json")
            import json

            trainer.logger.log_hyperparams({"config": json.loads(config)})


class GANCLI(LightningCLI):
    """The LightningCLI of ``lightning_gans``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.data_shape", "model.init_args.data_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def before_fit(self) -> None:
        rank_zero_info(f"lightning_gans: logs, config and checkpoints go to {self.trainer.log_dir}")


def cli_main(args: list[str] | None = None, run: bool = True) -> GANCLI:
    """Build (and by default run) the CLI; ``args`` replaces ``sys.argv[1:]``."""
    return GANCLI(
        BaseGAN,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        save_config_callback=SaveConfigToLogger,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point: ``fit``/``validate``/``test``/``predict`` (LightningCLI) and ``generate``
    (:mod:`lightning_gans.generate`). Errors the library names (NaN loss, bad settings, a
    missing checkpoint) print as one message."""
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv[:1] in (["-h"], ["--help"]):
            print("lightning_gans: fit / validate / test / predict (LightningCLI, below) and generate "
                  "(sample from a checkpoint: python -m lightning_gans generate --help).\n")
        if argv[:1] == ["generate"]:
            from lightning_gans.generate import main as generate_main

            generate_main(argv[1:])
        else:
            cli_main(args)
    except GANError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
