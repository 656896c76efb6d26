"""Time FID through lightning_gans' FidelityMetrics against torch_fidelity.calculate_metrics.

Both embed the same real and generated images with the same InceptionV3 weights and compute
FID; the script prints images/s for each and the ratio (FidelityMetrics must not be slower).

    python benchmarks/fidelity_speed.py --num-images 1000 [--weights PATH] [--device cuda]

Without --weights it builds a randomly initialised InceptionV3 (no download): the speed is
the same, the FID values are then meaningless.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from unittest import mock

import torch
import torch_fidelity
from torch.utils.data import Dataset

from lightning_gans.callbacks import FidelityMetrics


class Uint8Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def random_weights() -> str:
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", return_value=None),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tempfile.NamedTemporaryFile(suffix=".pt", delete=False).name
    torch.save(net.state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many alternating runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    weights = args.weights or random_weights()
    g = torch.Generator().manual_seed(0)
    shape = (args.num_images, 3, args.image_size, args.image_size)
    real = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    fake = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    device = torch.device(args.device)

    def ours() -> float:
        callback = FidelityMetrics(metrics=("fid",), feature_extractor_weights_path=weights, cache_dir=None)
        callback._build_metrics(device)  # as the callback feeds its metric during training
        for images, is_real in ((real, True), (fake, False)):
            for i in range(0, len(images), args.batch_size):  # uint8 -> [-1, 1], as samples arrive
                callback._update(images[i : i + args.batch_size].to(device).float() / 127.5 - 1, real=is_real)
        callback._flush_fid()
        return float(callback.fid.compute())

    def theirs() -> float:
        return torch_fidelity.calculate_metrics(
            input1=Uint8Images(fake),
            input2=Uint8Images(real),
            fid=True,
            batch_size=args.batch_size,
            cuda=device.type == "cuda",
            feature_extractor_weights_path=weights,
            verbose=False,
            save_cpu_ram=True,
            cache=False,
        )["frechet_inception_distance"]

    timings: dict[str, list[float]] = {"ours": [], "theirs": []}
    values: dict[str, float] = {}
    for _ in range(args.repeats):  # alternate, so neither side profits from warm caches alone
        for name, fn in (("ours", ours), ("theirs", theirs)):
            start = time.perf_counter()
            values[name] = fn()
            timings[name].append(time.perf_counter() - start)
    ours_time, theirs_time = min(timings["ours"]), min(timings["theirs"])
    ours, theirs = values["ours"], values["theirs"]

    n = 2 * args.num_images
    print(
        f"best of {args.repeats} runs; FID of {args.num_images} vs {args.num_images} images "
        f"of {args.image_size}px on {device}"
    )
    print(f"| {'pipeline':<36} | {'images/s':>9} | {'FID':>12} |")
    print(f"| {'-' * 36} | {'-' * 9} | {'-' * 12} |")
    print(f"| {'lightning_gans FidelityMetrics':<36} | {n / ours_time:>9.1f} | {ours:>12.4f} |")
    print(f"| {'torch_fidelity.calculate_metrics':<36} | {n / theirs_time:>9.1f} | {theirs:>12.4f} |")
    print(f"speed ratio (ours / torch-fidelity): {theirs_time / ours_time:.2f}")


if __name__ == "__main__":
    main()
