"""The names ``lightning_gans._compat`` relies on, which its dependencies do not promise.

If an upgrade of Lightning or torchdata removes one, these fail here, by name, instead of a
resumed run silently training other steps or a CSV log losing its rows.
"""

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lightning_gans import _compat
from helpers import tiny_gan, tiny_toy


def test_a_checkpoint_after_an_epochs_last_batch_has_the_loop_and_loader_state_we_repair(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_top_k=0, save_last=True)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[checkpoint], limit_val_batches=0)
    trainer.fit(tiny_gan(latent_dim=2), tiny_toy(num_samples=192, batch_size=64))  # 3 batches: saved at the last
    state = torch.load(tmp_path / "last.ckpt", weights_only=False)
    fit_loop = state["loops"]["fit_loop"]
    assert fit_loop["epoch_loop.batch_progress"]["is_last_batch"] is True
    assert fit_loop["epoch_loop.batch_progress"]["current"]["ready"] == 3
    assert {"ready", "started", "completed"} <= set(fit_loop["epoch_progress"]["current"])
    (loader_state,) = fit_loop["state_dict"]["combined_loader"]
    assert loader_state["_iterator_finished"] is True  # set by _compat.finish_spent_loader_iterators
    # Lightning passes this count to set_epoch; lightning_gans' sampler reads it (data/_loading.py).
    assert trainer.fit_loop.epoch_progress.current.processed == 1


def test_the_repairs_act_only_where_they_should():
    mid_epoch = {"loops": {"fit_loop": {
        "epoch_loop.batch_progress": {"is_last_batch": True, "current": {"ready": 3}},
        "epoch_progress": {"current": {"ready": 2, "started": 2, "completed": 2}, "total": {"ready": 2, "started": 2, "completed": 2}},
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
