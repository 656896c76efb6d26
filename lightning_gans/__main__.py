"""``python -m lightning_gans fit --config configs/gan_ring.yaml``."""

from lightning_gans.cli import main

if __name__ == "__main__":
    main()
