"""``PeriodicCallback``: the cadence, the no-repeat rule and logging every callback shares."""

import lightning as L
import torch
from helpers import trainer
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.callbacks import PeriodicCallback
from lightning_gans.sampling import iter_samples


class SampleNorm(PeriodicCallback):
    def __init__(self, every_n_batches):
        super().__init__(every_n_batches)
        self.steps = []

    def run(self, trainer, pl_module):
        norms = torch.cat([x.norm(dim=1) for x, _ in iter_samples(pl_module, 64, seed=0)])
        self.steps.append(pl_module.generator_steps)
        self.log_metrics(trainer, pl_module, {"metrics/sample_norm": norms.mean().item()})


def fit(max_steps, callback, tmp_path):
    model = lg.GAN(hidden_dim=16, num_layers=1)
    data = DataLoader(TensorDataset(torch.randn(64, 2)), batch_size=8, drop_last=True)
    fitted = trainer(
        max_steps=max_steps, max_epochs=-1, callbacks=[callback], logger=L.pytorch.loggers.CSVLogger(tmp_path)
    )
    fitted.fit(model, data)
    return fitted


def test_runs_every_n_generator_steps_and_at_the_end_but_never_twice_for_one_step(tmp_path):
    callback = SampleNorm(every_n_batches=2)
    fit(5, callback, tmp_path)
    assert callback.steps == [2, 4, 5]
    callback = SampleNorm(every_n_batches=2)
    trainer = fit(4, callback, tmp_path)
    assert callback.steps == [2, 4]  # training ended at step 4: no second run for it
    assert "metrics/sample_norm" in trainer.callback_metrics
    rows = (tmp_path / "lightning_logs").rglob("metrics.csv")
    assert any("metrics/sample_norm" in path.read_text() for path in rows)
