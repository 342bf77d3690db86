"""Training and evaluation engine (single process or torch DDP under torchrun)."""
