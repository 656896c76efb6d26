"""The names ``lightning_gans._compat`` relies on, which its dependencies do not promise.

If an upgrade of Lightning or torchdata removes one, these fail here, by name, instead of a
resumed run silently training other steps or a CSV log losing its rows.
"""

import lightning as L
import torch
from helpers import tiny_gan, tiny_toy, trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lightning_gans import _compat
from lightning_gans.resume import ExactResume


def test_a_checkpoint_after_an_epochs_last_batch_has_the_loop_and_loader_state_we_repair(tmp_path):
    # A cadence's file (the final last.ckpt of an epoch-end finish is rewritten for the next epoch).
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="cadence", every_n_train_steps=3, save_top_k=-1)
    fitted = trainer(enable_checkpointing=True, callbacks=[checkpoint])
    fitted.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64))  # 3 batches: saved at the last
    state = torch.load(tmp_path / "cadence.ckpt", weights_only=False)
    fit_loop = state["loops"]["fit_loop"]
    assert fit_loop["epoch_loop.batch_progress"]["is_last_batch"] is True
    assert fit_loop["epoch_loop.batch_progress"]["current"]["ready"] == 3
    assert {"ready", "started", "completed"} <= set(fit_loop["epoch_progress"]["current"])
    (loader_state,) = fit_loop["state_dict"]["combined_loader"]
    assert loader_state["_iterator_finished"] is True  # set by _compat.finish_spent_loader_iterators
    # Lightning passes this count to set_epoch; lightning_gans' sampler reads it (data/_loading.py).
    assert fitted.fit_loop.epoch_progress.current.processed == 1


def test_the_repairs_act_only_where_they_should():
    mid_epoch = {"loops": {"fit_loop": {
        "epoch_loop.batch_progress": {"is_last_batch": True, "current": {"ready": 3}},
        "epoch_progress": {"current": {"ready": 2, "started": 2, "completed": 2},
                           "total": {"ready": 2, "started": 2, "completed": 2}},
        "state_dict": {"combined_loader": [{"_iterator_finished": False}]},
    }}}  # fmt: skip
    _compat.finish_spent_loader_iterators(mid_epoch)
    _compat.repair_mid_epoch_state(mid_epoch)
    fit_loop = mid_epoch["loops"]["fit_loop"]
    assert fit_loop["state_dict"]["combined_loader"][0]["_iterator_finished"] is True
    assert fit_loop["epoch_progress"]["current"] == {"ready": 3, "started": 3, "completed": 2}
    untouched = {"loops": {"fit_loop": {
        "epoch_loop.batch_progress": {"is_last_batch": False, "current": {"ready": 1}},
        "epoch_progress": {"current": {"ready": 2, "started": 2, "completed": 1}},
        "state_dict": {"combined_loader": [{"_iterator_finished": False}]},
    }}}  # fmt: skip
    _compat.finish_spent_loader_iterators(untouched)
    _compat.repair_mid_epoch_state(untouched)
    assert untouched["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["_iterator_finished"] is False
    assert untouched["loops"]["fit_loop"]["epoch_progress"]["current"] == {"ready": 2, "started": 2, "completed": 1}


def test_a_run_ended_at_an_epochs_end_with_max_steps_set_resumes_into_the_next_epoch(tmp_path):
    """Lightning's iteration-based restart (``max_steps`` set) keeps the finished epoch's batch
    count; :func:`_compat.start_next_epoch_when_resumed` zeroes it in the final checkpoint."""

    def fit(max_epochs: int, ckpt_path=None) -> L.Trainer:
        fitted = trainer(max_epochs=max_epochs, max_steps=1000)
        fitted.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64), ckpt_path=ckpt_path)
        return fitted

    fitted = fit(2)
    assert fitted.fit_loop._iteration_based_training()
    fitted.save_checkpoint(tmp_path / "final.ckpt")  # as the CLI's after_fit does
    fit_loop = torch.load(tmp_path / "final.ckpt", weights_only=False)["loops"]["fit_loop"]
    assert fit_loop["epoch_loop.batch_progress"]["current"]["ready"] == 0
    assert fit(3, tmp_path / "final.ckpt").global_step == 9


def test_a_run_cut_short_by_max_steps_is_saved_as_inside_its_epoch(tmp_path):
    """Lightning ends a cut-short epoch as if complete (epoch counts 2 after 5 of 3-batch
    epochs); :func:`_compat.resume_inside_cut_short_epoch` counts it as the running epoch 1."""
    fitted = trainer(max_epochs=10, max_steps=5)
    fitted.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64))
    fitted.callbacks = [c for c in fitted.callbacks if not isinstance(c, ExactResume)]  # Lightning's own state
    fitted.save_checkpoint(tmp_path / "final.ckpt", weights_only=False)
    state = torch.load(tmp_path / "final.ckpt", weights_only=False)
    fit_loop = state["loops"]["fit_loop"]
    assert fit_loop["epoch_progress"]["current"] == {"ready": 2, "started": 2, "processed": 2, "completed": 2}
    assert fit_loop["epoch_loop.batch_progress"]["is_last_batch"] is False
    _compat.resume_inside_cut_short_epoch(state)
    assert fit_loop["epoch_progress"]["current"] == {"ready": 2, "started": 2, "processed": 1, "completed": 1}
    assert state["epoch"] == 1
    torch.save(state, tmp_path / "repaired.ckpt")
    resumed = trainer(max_epochs=10, max_steps=6)
    resumed.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64), ckpt_path=tmp_path / "repaired.ckpt")
    assert resumed.current_epoch == 2 and resumed.global_step == 6  # epoch 1's last batch, not a new epoch


def test_the_logger_step_count_is_saved_where_logger_step_when_resumed_reads_it(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="cadence", every_n_train_steps=2, save_top_k=-1)
    fitted = trainer(enable_checkpointing=True, max_steps=3, callbacks=[checkpoint])
    fitted.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64))
    in_batch_end = torch.load(tmp_path / "cadence.ckpt", weights_only=False)  # written in step 2's on_train_batch_end
    assert in_batch_end["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"] == 1
    assert _compat.logger_step_when_resumed(in_batch_end) == 2  # the count at the next batch: 2 batches done
    fitted.save_checkpoint(tmp_path / "final.ckpt", weights_only=False)  # after the batch was counted
    assert _compat.logger_step_when_resumed(torch.load(tmp_path / "final.ckpt", weights_only=False)) == 3
    _compat.set_logger_step(fitted, 7)
    assert _compat.logger_step(fitted) == 7


def test_csv_logger_writer_keeps_rows_put_back(tmp_path):
    (tmp_path / "run" / "version_0").mkdir(parents=True)
    (tmp_path / "run" / "version_0" / "metrics.csv").write_text("loss,step\n1.0,0\n")
    logger = CSVLogger(tmp_path, name="run", version=0)
    assert hasattr(logger.experiment, "metrics_file_path") and hasattr(logger.experiment, "metrics_keys")
    _compat.csv_logger_continue(logger, ["loss", "step"], [{"loss": "1.0", "step": "0"}])
    logger.log_metrics({"loss": 0.5}, step=1)
    logger.save()
    rows = (tmp_path / "run" / "version_0" / "metrics.csv").read_text().splitlines()
    assert rows == ["loss,step", "1.0,0", "0.5,1"]


# --- callbacks and metrics ---


def test_the_logger_step_is_the_batch_count_lightnings_own_logging_uses(tmp_path):
    epoch_loop = trainer().fit_loop.epoch_loop
    assert hasattr(epoch_loop, "_batches_that_stepped"), (
        "Lightning no longer has fit_loop.epoch_loop._batches_that_stepped: update _compat.logger_step"
    )
    seen = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(_compat.logger_step(trainer))

    logger = CSVLogger(tmp_path, name="run")
    trainer(limit_train_batches=3, logger=logger, log_every_n_steps=1, callbacks=[Record()]).fit(
        tiny_gan(latent_dim=2), tiny_toy()
    )
    rows = (tmp_path / "run" / "version_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    logged = [int(row.split(",")[header.index("step")]) for row in rows[1:]]
    assert seen == logged == [0, 1, 2]  # the step the model's own losses were logged at, batch by batch


def test_callback_metrics_is_the_trainers_live_dict_even_after_fit():
    class AtTrainEnd(L.Callback):
        def on_train_end(self, trainer, pl_module):
            _compat.set_callback_metrics(trainer, {"metrics/at_end": 0.25})

    fitted = trainer(limit_train_batches=1, callbacks=[AtTrainEnd()])
    fitted.fit(tiny_gan(latent_dim=2), tiny_toy())
    assert float(fitted.callback_metrics.get("metrics/at_end", float("nan"))) == 0.25, (
        "writes into trainer.callback_metrics no longer stick: update _compat.set_callback_metrics"
    )


def test_torchmetrics_inception_gives_every_feature_of_one_forward_pass():
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception
    from torchmetrics.image.fid import NoTrainInceptionV3

    assert hasattr(NoTrainInceptionV3, "_torch_fidelity_forward"), (
        "torchmetrics' NoTrainInceptionV3 lost _torch_fidelity_forward: update _compat.inception_features"
    )
    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", return_value=None),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict"),
    ):  # random weights: no download
        net = NoTrainInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pool, logits = _compat.inception_features(net, images)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    torch.testing.assert_close(pool, net(images))  # the public forward: the first feature only


# --- distributed training ---


def test_ddp_strategy_keeps_what_wrap_in_ddp_reads():
    """``_compat.wrap_in_ddp`` wraps each GAN network as DDPStrategy wraps a module: it needs
    these private methods and attributes of DDPStrategy and Lightning's comm-hook helper."""
    from lightning.pytorch.overrides import distributed
    from lightning.pytorch.strategies import DDPStrategy

    strategy = DDPStrategy()
    for name in ("_setup_model", "_ddp_kwargs", "_ddp_comm_state", "_ddp_comm_hook", "_ddp_comm_wrapper"):
        assert hasattr(strategy, name), f"DDPStrategy.{name} is gone: update lightning_gans._compat.wrap_in_ddp"
    assert hasattr(distributed, "_register_ddp_comm_hook"), "update lightning_gans._compat.wrap_in_ddp"
    assert callable(DDPStrategy.configure_ddp), "GANDDPStrategy overrides DDPStrategy.configure_ddp"


def test_the_script_launcher_keeps_its_children_where_rank_watch_reads_them():
    from lightning.pytorch.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = _SubprocessScriptLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    assert launcher.procs == [], "update lightning_gans._compat.launched_processes"
    assert _compat.launched_processes(launcher) is launcher.procs
    assert _compat.launched_processes(None) is None  # torchrun, SLURM: no launcher of Lightning's
