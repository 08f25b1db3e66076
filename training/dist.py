"""Several processes (`accelerate launch`, DDP) for the training loops, and a no-op when there is one.

A run is distributed when the launcher set WORLD_SIZE > 1 (`accelerate launch`, `torchrun`); then an
`accelerate.Accelerator` sets up the process group (NCCL on GPUs, gloo on CPU when the config says
`device = "cpu"`) and wraps the model (DDP, or what the accelerate config asks for). A single
process never builds an Accelerator, so it runs exactly the code it ran before.

How the loops use it (sft.py, rkto.py):
- data: the step's batch is a pure function of the step (train.step_batches), now over the global
  batch, batch_size x grad_accum x processes; each process takes its own slice, so the examples
  of a step, and exact resume, do not depend on the number of processes;
- loss: a process backpropagates its share of the global mean times the number of processes (DDP
  averages gradients), so the update is the one a single process makes on the same global batch;
  logged losses and metrics are reduced over the processes;
- files: only the main process writes logs, plots, checkpoints and the exported model; every
  process keeps its own RNG state in the checkpoint.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch


def launched_world_size() -> int:
    """The number of processes the launcher started (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


class Dist:
    """The process group as the loops see it; `Dist(None)` is the single-process no-op."""

    def __init__(self, accelerator: Any | None = None) -> None:
        self.accelerator = accelerator
        self.world = accelerator.num_processes if accelerator else 1
        self.rank = accelerator.process_index if accelerator else 0
        self.is_main = self.rank == 0

    @classmethod
    def create(cls, device: str, batch_size: int = 1) -> Dist:
        """A Dist for this process: an Accelerator when launched with several processes."""
        if launched_world_size() <= 1:
            return cls(None)
        from accelerate import Accelerator

        # Our own bf16 autocast (train.autocast) stays in charge of precision.
        accelerator = Accelerator(cpu=device == "cpu", mixed_precision="no")
        plugin = accelerator.state.deepspeed_plugin
        if plugin is not None:  # no dataloader goes through prepare() to tell DeepSpeed the batch size
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = batch_size
        return cls(accelerator)

    @property
    def enabled(self) -> bool:
        return self.accelerator is not None

    def device(self, fallback: torch.device) -> torch.device:
        """The process's device (the launcher picks it), or `fallback` in a single process."""
        return self.accelerator.device if self.accelerator else fallback

    def prepare(self, model, opt):
        """(model, optimizer) wrapped for the run (DDP, FSDP, ...); unchanged in a single process."""
        if not self.accelerator:
            return model, opt
        return self.accelerator.prepare(model, opt)

    def unwrap(self, model):
        return self.accelerator.unwrap_model(model) if self.accelerator else model

    def no_sync(self, model, skip: bool):
        """No gradient all-reduce for this backward (a micro-batch before the step's last)."""
        if self.accelerator and skip:
            return self.accelerator.no_sync(model)
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward(), through the Accelerator when there is one (DeepSpeed runs its own)."""
        if self.accelerator:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def clip_grad_norm(self, model, max_norm: float) -> float:
        params = [p for p in model.parameters() if p.requires_grad]
        if self.accelerator:
            norm = self.accelerator.clip_grad_norm_(params, max_norm)
            return float("nan") if norm is None else float(norm)  # None: DeepSpeed clips by its own config
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))

    def share(self, items: list) -> list:
        """This process's contiguous slice of a step's global list (all of it in a single process)."""
        if len(items) % self.world:
            raise ValueError(f"{len(items)} items cannot be split over {self.world} processes")
        per = len(items) // self.world
        return items[self.rank * per : (self.rank + 1) * per]

    def sum(self, value: float) -> float:
        """The sum of `value` over the processes."""
        if not self.accelerator:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.accelerator.device)
        return float(self.accelerator.reduce(t, reduction="sum")[0])

    def any(self, flag: bool) -> bool:
        """True if `flag` is true on any process (so that all stop on time together)."""
        return flag if not self.accelerator else self.sum(float(flag)) > 0

    def gather(self, obj: Any) -> list:
        """Every process's `obj` (picklable), in rank order."""
        if not self.accelerator:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])

    def barrier(self) -> None:
        if self.accelerator:
            self.accelerator.wait_for_everyone()

    def end(self) -> None:
        if self.accelerator:
            self.accelerator.end_training()
