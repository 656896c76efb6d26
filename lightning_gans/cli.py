"""``python -m lightning_gans``: LightningCLI with GAN-aware defaults, plus ``generate``.

- subclass mode for model and data, so a config names ``class_path: lightning_gans.GAN``;
- ``auto_configure_optimizers=False``: a GAN has two optimizers, injected as
  ``model.init_args.g_optimizer`` / ``d_optimizer`` (LightningCLI's automatic optimizer
  would replace them with one optimizer over all parameters);
- the datamodule's ``data_shape`` and ``num_classes`` are linked into the model, so a
  config does not repeat them;
- one folder per run (:mod:`lightning_gans.runs`): ``<save_dir>/<name>/version_N`` holds the
  run's ``config.yaml``, ``checkpoints/`` and logs; ``--ckpt_path last`` resumes the newest
  run of the config in its own folder, ``--ckpt_path PATH`` starts a new folder from PATH;
- errors a user can fix print as one line (``error: ...``), not a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import string
import sys
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
from jsonargparse import Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_gans.base import BaseGAN
from lightning_gans.errors import GANError
from lightning_gans.resume import continue_csv_log
from lightning_gans.runs import RUN_DIR_ENV, RunPlan, latest_resumable_run, plan_run
from lightning_gans.settings import NOW, removed_setting_message
from lightning_gans.strategies import gan_strategy_name
from lightning_gans.version import __version__


class SaveConfigToLogger(SaveConfigCallback):
    """Writes ``config.yaml`` to the run folder and also hands the whole resolved config to
    the logger as hyperparameters, so a W&B run shows it."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.logger is not None:
            config = self.parser.dump(self.config, skip_none=False, format="json")
            trainer.logger.log_hyperparams({"config": json.loads(config)})


class GANArgumentParser(LightningArgumentParser):
    """LightningCLI's parser, without the hundred-line usage dump before a parse error: the
    error itself, and the tip to run ``--help``, say what to fix."""

    def print_usage(self, file: Any = None) -> None:
        pass

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """A setting of an earlier release gets one line with its new spelling, not a parse dump."""
        removed = [name for name in NOW if f"Option '{name}' is not accepted" in message]
        if removed:
            print(f"error: {removed_setting_message(removed[0])}", file=sys.stderr)
            raise SystemExit(2)
        super().error(message, ex)


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _is(class_path: Any, base: type | tuple[type, ...]) -> bool:
    cls = _import(class_path) if isinstance(class_path, str) else None
    return isinstance(cls, type) and issubclass(cls, base)


class GANCLI(LightningCLI):
    """The LightningCLI of ``lightning_gans``."""

    run_plan: RunPlan | None = None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.data_shape", "model.init_args.data_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    # ------------------------------------------------------------------ one folder per run

    def before_instantiate_classes(self) -> None:
        trainer = (self.config[self.subcommand] if self.subcommand else self.config).trainer
        # Lightning's "ddp" wraps the whole module, which cannot train a GAN: use ours (see strategies).
        trainer.strategy = gan_strategy_name(trainer.strategy, trainer.devices, trainer.num_nodes)
        if self.subcommand == "validate":
            self._prepare_validate(self.config["validate"])
        if self.subcommand != "fit":
            return
        config = self.config["fit"]
        if trainer.fast_dev_run:  # Lightning turns loggers and checkpoints off: nothing to place
            return
        loggers = self._logger_configs(trainer)
        save_dir, name = self._run_root(loggers, trainer, config)
        plan = plan_run(Path(save_dir) / name, config.ckpt_path, _global_rank() == 0)
        config.ckpt_path = plan.ckpt_path
        info = plan.read_info()
        for logger in loggers:
            init_args = logger.init_args
            if _is(logger.class_path, (CSVLogger, TensorBoardLogger)):
                init_args.save_dir, init_args.name, init_args.version = save_dir, name, plan.run_dir.name
            elif _is(logger.class_path, WandbLogger):
                init_args.save_dir = str(plan.run_dir)
                if plan.resumed_in_place and info.get("wandb_id") and not init_args.get("id"):
                    init_args.id, init_args.resume = info["wandb_id"], "allow"
                if not init_args.get("id"):  # chosen here so that run.json records it for a resume
                    init_args.id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
                if _global_rank() == 0:
                    plan.write_info(wandb_id=init_args.id)
        if not loggers:
            trainer.default_root_dir = str(plan.run_dir)
        if plan.resumed_in_place and (plan.run_dir / "config.yaml").exists():
            self.save_config_kwargs["config_filename"] = f"config-resumed-step{plan.resumed_step}.yaml"
        self.run_plan = plan

    @staticmethod
    def _logger_configs(trainer: Namespace) -> list[Namespace]:
        """The logger entries of the config; Lightning's default logger (``logger: true``)
        is spelled out as the TensorBoardLogger it would build, so it gets a run folder too."""
        logger = trainer.logger
        if logger is None or logger is True:
            trainer.logger = logger = Namespace(
                class_path="lightning.pytorch.loggers.TensorBoardLogger",
                init_args=Namespace(save_dir=trainer.default_root_dir or ".", name="lightning_logs"),
            )
        if logger is False:
            return []
        entries = logger if isinstance(logger, list) else [logger]
        for entry in entries:
            if not isinstance(entry, Namespace) or "class_path" not in entry:
                return []  # an instantiated logger object: the user placed it
            if entry.get("init_args") is None:
                entry.init_args = Namespace()
        return entries

    @staticmethod
    def _run_root(loggers: list[Namespace], trainer: Namespace, config: Namespace) -> tuple[str, str]:
        """``(save_dir, name)`` of the config's runs: from its first logger, else the trainer's
        ``default_root_dir`` and the config file's name."""
        config_files = [Path(str(p)) for p in (config.get("config") or []) if p]
        default_name = config_files[0].stem if config_files else "run"
        if loggers:
            init_args = loggers[0].init_args
            save_dir = init_args.get("save_dir") or trainer.default_root_dir or "."
            if _is(loggers[0].class_path, WandbLogger):
                save_dir = save_dir if save_dir not in (".", "./") else "lightning_logs"
            return str(save_dir), str(init_args.get("name") or default_name)
        return str(Path(trainer.default_root_dir or ".") / "lightning_logs"), default_name

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        if self.run_plan is None:
            return
        for callback in self.trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(self.run_plan.checkpoint_dir)

    def before_fit(self) -> None:
        plan = self.run_plan
        if plan is None:
            return
        if _global_rank() == 0:
            os.environ[RUN_DIR_ENV] = str(plan.run_dir)  # for the processes a DDP launcher starts
            if plan.resumed_in_place and plan.resumed_step is not None:
                for logger in self.trainer.loggers:
                    if isinstance(logger, CSVLogger):
                        continue_csv_log(logger, plan.resumed_step)
        rank_zero_info(f"lightning_gans: run folder {plan.run_dir} (config, checkpoints/, logs)")
        if plan.ckpt_path is not None:
            how = "resuming this run" if plan.resumed_in_place else "starting a new run"
            rank_zero_info(
                f"lightning_gans: {how} from {plan.ckpt_path}: generator step {plan.resumed_step}, "
                f"continuing at epoch {plan.resumed_epoch}"
            )

    def after_fit(self) -> None:
        os.environ.pop(RUN_DIR_ENV, None)

    # ------------------------------------------------------------------ validate: score a checkpoint

    def _prepare_validate(self, config: Namespace) -> None:
        """``validate`` scores a checkpoint: ``--ckpt_path last`` is the newest run of the config
        (as for ``fit``); no logger (no new run folder or W&B run): the scores are printed and
        written beside the checkpoint (:meth:`after_validate`)."""
        trainer = config.trainer
        if config.ckpt_path == "last":
            loggers = self._logger_configs(trainer)
            save_dir, name = self._run_root(loggers, trainer, config)
            config.ckpt_path = str(latest_resumable_run(Path(save_dir) / name) / "checkpoints" / "last.ckpt")
        trainer.logger = False

    def after_validate(self) -> None:
        """Print the checkpoint's scores as a table and write them to ``<checkpoint>.validate.json``."""
        given = self.config["validate"].ckpt_path
        scores = {name: float(value) for name, value in sorted(self.trainer.callback_metrics.items())}
        if given is None or _global_rank() != 0:  # an untrained model's scores: printed by Lightning only
            return
        ckpt_path = Path(str(given))
        path = ckpt_path.with_name(f"{ckpt_path.stem}.validate.json")
        config_files = [str(p) for p in (self.config["validate"].get("config") or [])]
        record = {
            "checkpoint": str(ckpt_path),
            "config": config_files,
            "generator_steps": self.model.generator_steps,
            "lightning_gans_version": __version__,
            "metrics": scores,
        }
        path.write_text(json.dumps(record, indent=2) + "\n")
        width = max([len(name) for name in scores] + [6])
        lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
        lines += [f"{name:<{width}}  {value:.6g}" for name, value in scores.items()]
        print(f"Scores of {ckpt_path} (generator step {self.model.generator_steps}):")
        print("\n".join(lines))
        print(f"written to {path}")


def _global_rank() -> int:
    """This process's global rank, as Lightning records it on ``rank_zero_only`` (0 alone)."""
    return int(getattr(rank_zero_only, "rank", 0))


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
        parser_class=GANArgumentParser,
        args=args,
        run=run,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point: ``fit``/``validate``/``test``/``predict`` (LightningCLI) and ``generate``
    (:mod:`lightning_gans.generate`). Errors a user can fix (NaN loss, bad settings, a missing
    checkpoint, a device that is not there) print as one line, exit code 1."""
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv[:1] in (["-h"], ["--help"]):
            print(
                "lightning_gans: fit / validate / test / predict (LightningCLI, below), generate "
                "(sample from a checkpoint: python -m lightning_gans generate --help) and export "
                "(a checkpoint's generator as a folder to share: python -m lightning_gans export --help).\n"
            )
        if argv[:1] == ["generate"]:
            from lightning_gans.generate import main as generate_main

            generate_main(argv[1:])
        elif argv[:1] == ["export"]:
            export_main(argv[1:])
        else:
            cli_main(args)
    except Exception as error:
        user_error = _user_error(error)
        if user_error is None:
            raise
        message = " ".join(str(user_error).split())
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def export_main(args: list[str]) -> Path:
    """``python -m lightning_gans export``: a checkpoint's generator as a folder to share
    (:mod:`lightning_gans.export`)."""
    import argparse
    import time

    from lightning_gans.export import export_generator, export_onnx

    cli = argparse.ArgumentParser(
        prog="python -m lightning_gans export",
        description="Write a checkpoint's generator as a folder anyone can load without Lightning: "
        "model.safetensors, config.json, a model card README.md and samples.png; load it with "
        "lightning_gans.from_pretrained(DIR) or generate --ckpt_path DIR.",
    )
    cli.add_argument("--ckpt_path", required=True, help="a .ckpt file written by `fit`")
    cli.add_argument("--output_dir", required=True, help="the folder to write (must be empty unless --overwrite)")
    cli.add_argument("--no_ema", action="store_true", help="export the trained generator, not its EMA copy")
    cli.add_argument("--overwrite", action="store_true", help="replace what --output_dir holds")
    cli.add_argument(
        "--format",
        choices=["safetensors", "onnx"],
        default="safetensors",
        help="safetensors (default: the folder above) or onnx (generator.onnx, dynamic batch; the [export] extra)",
    )
    cli.add_argument("--truncation_psi", type=float, help="with --format onnx: StyleGAN2's truncation, fixed at export")
    options = cli.parse_args(args)
    start = time.perf_counter()
    use_ema = not options.no_ema
    if options.format == "onnx":
        written = export_onnx(options.ckpt_path, options.output_dir, options.overwrite, use_ema, options.truncation_psi)
        size = written.stat().st_size
    else:
        written = export_generator(options.ckpt_path, options.output_dir, options.overwrite, use_ema=use_ema)
        size = sum(f.stat().st_size for f in written.iterdir() if f.is_file())
    print(f"Exported {options.ckpt_path} to {written} ({size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s)")
    return written


def _user_error(error: BaseException) -> BaseException | None:
    """The library error (or Lightning's configuration error) behind ``error``: LightningCLI
    and jsonargparse wrap errors raised while building the model, data and callbacks."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (GANError, MisconfigurationException)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
