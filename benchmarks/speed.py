"""Training speed: ganpat against the book's loop, per step and to quality, and many seeds at once.

Every comparison runs its baseline in this same process on the same machine and
reports a ratio. Sub-commands:

    python benchmarks/speed.py step      # microseconds per step, book-style loop vs the engine
    python benchmarks/speed.py quality   # wall time to quality, book loop vs ganpat's defaults
    python benchmarks/speed.py seeds     # K seeds batched vs K separate runs
    python benchmarks/speed.py all       # all three
    python benchmarks/speed.py step --device cuda --profile

Runs use one CPU thread unless --threads says otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from ganpat import plugins
from ganpat.engine import CHECK_SAMPLES, CHECK_SEED, CheckRecord, Trainer
from ganpat.generation import keep_freed_memory
from ganpat.multiseed import MultiSeedTrainer
from ganpat.pattern import Condition

CURVE = "exponential"
ONEHOT = "onehot-multiples-of-5"


# the book's loops, written the way a reader of chapter 3 writes them


class EarlyStop:
    """The book's early stopping: stop after ``patience`` epochs without a smaller distance."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.steps = 0
        self.best = math.inf

    def stop(self, distance: float) -> bool:
        if distance < self.best:
            self.best = distance
            self.steps = 0
        else:
            self.steps += 1
        return self.steps >= self.patience


def book_curve_networks(device: torch.device) -> tuple[nn.Module, nn.Module]:
    discriminator = nn.Sequential(
        nn.Linear(2, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 1), nn.Sigmoid(),
    ).to(device)  # fmt: skip
    generator = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
    return generator, discriminator


class BookCurveLoop:
    """The book's exponential GAN: DataLoader, three optimizer steps per batch, BCE, Adam at 0.0005."""

    def __init__(self, device: torch.device, seed: int = 0, batch_size: int = 128) -> None:
        torch.manual_seed(seed)
        self.device = device
        x = 50 * torch.rand(2048)
        data = torch.stack([x, 1.08**x], dim=1)
        self.loader = DataLoader(data, batch_size=batch_size, shuffle=True)
        self.generator, self.discriminator = book_curve_networks(device)
        self.loss_fn = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=0.0005)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=0.0005)
        self.batch_size = batch_size
        self.real_labels = torch.ones((batch_size, 1), device=device)
        self.fake_labels = torch.zeros((batch_size, 1), device=device)
        self.steps = 0

    def epoch(self) -> torch.Tensor:
        """Train one pass over the data; return the last generated batch."""
        fake = torch.empty(0)
        for real in self.loader:
            real = real.to(self.device)
            self.opt_d.zero_grad()
            self.loss_fn(self.discriminator(real), self.real_labels).backward()
            self.opt_d.step()
            fake = self.generator(torch.randn((self.batch_size, 2), device=self.device))
            self.opt_d.zero_grad()
            self.loss_fn(self.discriminator(fake), self.fake_labels).backward()
            self.opt_d.step()
            self.opt_g.zero_grad()
            fake = self.generator(torch.randn((self.batch_size, 2), device=self.device))
            self.loss_fn(self.discriminator(fake), self.real_labels).backward()
            self.opt_g.step()
            self.steps += 1
        return fake

    def train(self, patience: int = 1000, epochs: int = 10_000) -> int:
        """Run the book's loop with its early stopping on the curve distance; return epochs run."""
        stopper = EarlyStop(patience)
        for epoch in range(epochs):
            fake = self.epoch()
            distance = torch.mean((fake[:, 1] - 1.08 ** fake[:, 0]) ** 2).item()
            if stopper.stop(distance):
                return epoch + 1
        return epochs


class BookOnehotLoop:
    """The book's multiples-of-5 GAN: batches of 10 one-hot vectors, G Linear(100,100)-ReLU, D Linear(100,1)-Sigmoid."""

    def __init__(self, device: torch.device, seed: int = 0, batch_size: int = 10) -> None:
        torch.manual_seed(seed)
        self.device = device
        self.generator = nn.Sequential(nn.Linear(100, 100), nn.ReLU()).to(device)
        self.discriminator = nn.Sequential(nn.Linear(100, 1), nn.Sigmoid()).to(device)
        self.loss_fn = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=0.0005)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=0.0005)
        self.batch_size = batch_size
        self.real_labels = torch.ones((batch_size, 1), device=device)
        self.fake_labels = torch.zeros((batch_size, 1), device=device)
        self.steps = 0

    def real_batch(self) -> torch.Tensor:
        values = torch.randint(0, 20, (self.batch_size,)) * 5
        return nn.functional.one_hot(values, 100).float().to(self.device)

    def epoch(self) -> torch.Tensor:
        self.opt_d.zero_grad()
        self.loss_fn(self.discriminator(self.real_batch()), self.real_labels).backward()
        self.opt_d.step()
        fake = self.generator(torch.randn((self.batch_size, 100), device=self.device))
        self.opt_d.zero_grad()
        self.loss_fn(self.discriminator(fake), self.fake_labels).backward()
        self.opt_d.step()
        fake = self.generator(torch.randn((self.batch_size, 100), device=self.device))
        self.opt_g.zero_grad()
        self.loss_fn(self.discriminator(fake), self.real_labels).backward()
        self.opt_g.step()
        self.steps += 1
        return fake

    def train(self, patience: int = 800, epochs: int = 10_000) -> int:
        stopper = EarlyStop(patience)
        for epoch in range(epochs):
            fake = self.epoch()
            remainders = (torch.argmax(fake, dim=-1) % 5).float()
            if stopper.stop(torch.mean(remainders**2).item()):
                return epoch + 1
        return epochs


# measurement helpers


def best_of(repeats: int, run: Callable[[], Any]) -> float:
    """Return the smallest wall time of ``repeats`` calls, synchronising CUDA around each."""
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times)


def interleaved_times(rounds: int, runs: list[Callable[[], Any]]) -> list[list[tuple[float, float]]]:
    """Call every run once per round, alternating the runs; return each run's (wall, CPU) seconds per round.

    CPU seconds are this thread's own, so they leave out time in which other processes
    held the core. They also leave out work on other threads, so they suit one-thread runs.
    """
    times: list[list[tuple[float, float]]] = [[] for _ in runs]
    for _ in range(rounds):
        for index, run in enumerate(runs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter(), time.thread_time()
            run()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[index].append((time.perf_counter() - wall, time.thread_time() - cpu))
    return times


def smallest(times: list[tuple[float, float]]) -> tuple[float, float]:
    """Return the smallest wall and the smallest CPU seconds of :func:`interleaved_times` rounds."""
    return min(wall for wall, _ in times), min(cpu for _, cpu in times)


def best_times_interleaved(rounds: int, runs: list[Callable[[], Any]]) -> list[tuple[float, float]]:
    """Return each run's smallest wall and smallest CPU seconds over ``rounds`` interleaved rounds."""
    return [smallest(times) for times in interleaved_times(rounds, runs)]


def matmul_flops_per_second(device: torch.device, size: int = 512) -> float:
    """Measure matrix-product throughput: wall time on CUDA, this thread's CPU time on the CPU."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    repeats = 20
    if device.type == "cuda":
        seconds = best_of(3, lambda: [a @ b for _ in range(repeats)])
    else:
        ((_, seconds),) = best_times_interleaved(5, [lambda: [a @ b for _ in range(repeats)]])
    return 2 * size**3 * repeats / seconds


def step_flops(trainer: Trainer) -> int:
    """Count the floating-point operations of one engine step (matrix products, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    real = trainer._real_samples(trainer.batch_size).to(trainer.device)
    with FlopCounterMode(display=False) as counter:
        trainer._train_step(real)
    return int(counter.get_total_flops())


def trainer_for(pattern_name: str, recipe_name: str, device: torch.device, seed: int = 0, **changes: Any) -> Trainer:
    registry = plugins.registry()
    pattern = registry.pattern(pattern_name)
    recipe = pattern.recipes[recipe_name].replace(**changes)
    return Trainer(pattern, registry.architecture(recipe.architecture), recipe, seed=seed, device=device)


def check_generator(pattern_name: str, generator: nn.Module, latent: int, device: torch.device) -> tuple[dict[str, float], bool]:
    """Measure a generator the way ganpat's training checks do."""
    pattern = plugins.registry().pattern(pattern_name)
    noise = torch.randn(CHECK_SAMPLES, latent, generator=torch.Generator().manual_seed(CHECK_SEED)).to(device)
    generator.eval()
    with torch.no_grad():
        samples = generator(noise)
    metrics = pattern.metrics(samples)
    return metrics, pattern.target_met(metrics)


def first_check_as_good(pattern_name: str, history: list[CheckRecord], reference: dict[str, float]) -> CheckRecord | None:
    """Return the first check whose metrics equal or beat ``reference`` on every metric of the pattern's target."""
    pattern = plugins.registry().pattern(pattern_name)
    bounds = [
        Condition(
            c.metric,
            minimum=reference[c.metric] if c.minimum is not None else None,
            maximum=reference[c.metric] if c.maximum is not None else None,
        )
        for c in pattern.target
    ]
    return next((record for record in history if all(b.is_met(record.metrics) for b in bounds)), None)


# sub-commands


def bench_step(device: torch.device, profile: bool) -> None:
    print("\n## microseconds per step (one step: the discriminator's and the generator's updates)")
    epochs, rounds = 1, 16
    print(f"times are the smallest of {rounds} interleaved rounds of {epochs} epoch(s), as wall / thread CPU "
          "microseconds; the ratio is the median of the rounds' own ratios, whose two runs met the same load")  # fmt: skip
    throughput = matmul_flops_per_second(device)
    print(f"measured matmul throughput (512 x 512): {throughput / 1e9:.1f} GFLOP/s")
    book = BookCurveLoop(device)
    engine = trainer_for(CURVE, "book", device)
    book.epoch()
    engine._train_epoch()
    book_rounds, engine_rounds = interleaved_times(
        rounds, [lambda: [book.epoch() for _ in range(epochs)], lambda: [engine._train_epoch() for _ in range(epochs)]]
    )
    steps = epochs * engine.steps_per_epoch
    book_wall, book_cpu = (seconds / steps * 1e6 for seconds in smallest(book_rounds))
    engine_wall, engine_cpu = (seconds / steps * 1e6 for seconds in smallest(engine_rounds))
    wall_ratio = statistics.median(ours[0] / theirs[0] for theirs, ours in zip(book_rounds, engine_rounds))
    cpu_ratio = statistics.median(ours[1] / theirs[1] for theirs, ours in zip(book_rounds, engine_rounds))
    limit_us = step_flops(engine) / throughput * 1e6
    print(f"book recipe, batch 128: book-style loop {book_wall:.0f} / {book_cpu:.0f} us, "
          f"engine {engine_wall:.0f} / {engine_cpu:.0f} us, ratio engine/book {wall_ratio:.2f} / {cpu_ratio:.2f}, "
          f"arithmetic limit {limit_us:.0f} us")  # fmt: skip

    for pattern_name in (CURVE, ONEHOT):
        trainer = trainer_for(pattern_name, "default", device)
        trainer._train_epoch()
        ((wall, cpu),) = best_times_interleaved(rounds // 2, [lambda: [trainer._train_epoch() for _ in range(epochs)]])
        steps = epochs * trainer.steps_per_epoch
        limit = step_flops(trainer) / throughput * 1e6
        print(f"{pattern_name} default recipe, batch {trainer.batch_size}: engine {wall / steps * 1e6:.0f} / "
              f"{cpu / steps * 1e6:.0f} us, arithmetic limit {limit:.0f} us")  # fmt: skip

    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        for name, run in (("book-style loop", book.epoch), ("engine, book recipe", engine._train_epoch)):
            with torch_profile(activities=activities) as profiled:
                run()
            print(f"\n### profile: {name}, one epoch")
            print(profiled.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def bench_quality(device: torch.device, seeds: int) -> None:
    print("\n## wall time to quality: the book's loop (its own early stopping) vs ganpat's default train")
    for pattern_name, loop_class, patience in ((CURVE, BookCurveLoop, 1000), (ONEHOT, BookOnehotLoop, 800)):
        loop = loop_class(device)
        started = time.perf_counter()
        epochs = loop.train(patience=patience)
        book_seconds = time.perf_counter() - started
        latent = 2 if pattern_name == CURVE else 100
        metrics, met = check_generator(pattern_name, loop.generator, latent, device)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"{pattern_name} book loop: {book_seconds:.1f} s, {epochs} epochs, {loop.steps} steps, "
              f"target {'met' if met else 'not met'} ({shown})")  # fmt: skip

        trainer = trainer_for(pattern_name, "default", device)
        started = time.perf_counter()
        result = trainer.run()
        ganpat_seconds = time.perf_counter() - started
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.best_metrics.items())
        print(f"{pattern_name} ganpat default: {ganpat_seconds:.1f} s, {result.epochs_run} epochs, {result.steps} steps, "
              f"stopped by {result.stop_reason}, target {'met' if result.target_met else 'not met'} ({shown})")  # fmt: skip
        print(f"{pattern_name} ratio ganpat/book wall time: {ganpat_seconds / book_seconds:.3f}")
        matched = first_check_as_good(pattern_name, trainer.history, metrics)
        if matched is None:
            print(f"{pattern_name} ganpat default: no check was as good as the book loop's end on every target metric")
        else:
            print(f"{pattern_name} ganpat default matched the book loop's end on every target metric at its check "
                  f"at step {matched.step}, {matched.elapsed:.2f} s (ratio {matched.elapsed / book_seconds:.3f})")  # fmt: skip

        if loop_class is BookOnehotLoop:
            # the book's early stopping ends this loop within seconds, so also run its whole epoch budget
            loop = loop_class(device)
            started = time.perf_counter()
            epochs = loop.train(patience=10**9)
            full_seconds = time.perf_counter() - started
            metrics, met = check_generator(pattern_name, loop.generator, latent, device)
            summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            print(f"{pattern_name} book loop without early stopping: {full_seconds:.1f} s, {epochs} epochs, "
                  f"target {'met' if met else 'not met'} ({summary}); ratio ganpat/book {ganpat_seconds / full_seconds:.3f}")  # fmt: skip

        registry = plugins.registry()
        pattern = registry.pattern(pattern_name)
        recipe = pattern.default_recipe
        multi = MultiSeedTrainer(pattern, registry.architecture(recipe.architecture), recipe, list(range(seeds)), device)
        started = time.perf_counter()
        results = multi.run()
        multi_seconds = time.perf_counter() - started
        met_count = sum(1 for r in results if r is not None and r.target_met)
        print(f"{pattern_name} ganpat --seeds {seeds}: {multi_seconds:.1f} s for all seeds, "
              f"{met_count} of {seeds} met the target")  # fmt: skip


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    """Return the wall seconds and this thread's CPU seconds of one call.

    With one thread, CPU seconds leave out the time other processes on the machine held the core.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    run()
    return time.perf_counter() - wall, time.thread_time() - cpu


def seed_recipes() -> list[tuple[str, str]]:
    return [(CURVE, "default"), (ONEHOT, "default"), (CURVE, "book"), (ONEHOT, "book")]


def bench_seeds(device: torch.device, seeds: int, epochs: int) -> None:
    print(f"\n## {seeds} seeds batched vs {seeds} separate runs, {epochs} epochs each, "
          "no early stopping and one quality check at the end")  # fmt: skip
    print("seconds as wall / thread CPU; gains are per-model throughput over the separate runs, from CPU seconds")
    # As `ganpat train --seeds` does. The setting is process-wide, so the separate runs get it
    # too, but their tensors are small enough that glibc's defaults already keep them.
    keep_freed_memory()
    registry = plugins.registry()
    for pattern_name, recipe_name in seed_recipes():
        pattern = registry.pattern(pattern_name)
        # the book's one-hot recipe takes one step per epoch, so it gets more epochs
        run_epochs = epochs * 10 if (recipe_name, pattern_name) == ("book", ONEHOT) else epochs
        recipe = pattern.recipes[recipe_name].replace(
            epochs=run_epochs, target_hold=0, patience=10**9, check_every=run_epochs
        )
        architecture = registry.architecture(recipe.architecture)

        def separate() -> None:
            for seed in range(seeds):
                Trainer(pattern, architecture, recipe, seed=seed, device=device).run()

        def batched(layers: bool) -> Callable[[], Any]:
            return lambda: MultiSeedTrainer(pattern, architecture, recipe, list(range(seeds)), device, batched=layers).run()

        # one short run of each path first, so that no timing includes torch's first-call costs
        warm_up = recipe.replace(epochs=1, check_every=1)
        Trainer(pattern, architecture, warm_up, seed=0, device=device).run()
        for layers in (True, False):
            MultiSeedTrainer(pattern, architecture, warm_up, [0, 1], device, batched=layers).run()

        apart = timed(separate)
        together = timed(batched(True))
        vmapped = timed(batched(False))
        print(f"{pattern_name} {recipe_name}: separate {apart[0]:.1f} / {apart[1]:.1f}, "
              f"batched layers {together[0]:.1f} / {together[1]:.1f} (x{apart[1] / together[1]:.2f}), "
              f"vmap {vmapped[0]:.1f} / {vmapped[1]:.1f} (x{apart[1] / vmapped[1]:.2f})")  # fmt: skip

    print(f"\n## training steps alone: one seed's step x {seeds} vs one batched step of {seeds} seeds")
    print("microseconds as wall / thread CPU, smallest of 6 interleaved rounds of at least 16 steps")
    for pattern_name, recipe_name in seed_recipes():
        pattern = registry.pattern(pattern_name)
        recipe = pattern.recipes[recipe_name]
        architecture = registry.architecture(recipe.architecture)
        single = Trainer(pattern, architecture, recipe, seed=0, device=device)
        multi = MultiSeedTrainer(pattern, architecture, recipe, list(range(seeds)), device)
        single._train_epoch()
        multi._train_epoch()
        repeats = max(1, 16 // multi.steps_per_epoch)
        times = best_times_interleaved(
            6, [lambda: [single._train_epoch() for _ in range(repeats)], lambda: [multi._train_epoch() for _ in range(repeats)]]
        )
        (single_wall, single_cpu), (multi_wall, multi_cpu) = (
            (wall / (repeats * multi.steps_per_epoch) * 1e6, cpu / (repeats * multi.steps_per_epoch) * 1e6)
            for wall, cpu in times
        )
        print(f"{pattern_name} {recipe_name}: one seed {single_wall:.0f} / {single_cpu:.0f} us, "
              f"{seeds} batched {multi_wall:.0f} / {multi_cpu:.0f} us, "
              f"per-model throughput x{seeds * single_cpu / multi_cpu:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["step", "quality", "seeds", "all"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda [default: cpu].")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch [default: 1].")
    parser.add_argument("--seeds", type=int, default=16, help="Seeds for the batched runs [default: 16].")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per run in the seeds comparison [default: 10].")
    parser.add_argument("--profile", action="store_true", help="Print torch.profiler tables of one epoch.")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} thread(s), device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))  # fmt: skip
    if args.command in ("step", "all"):
        bench_step(device, args.profile)
    if args.command in ("seeds", "all"):
        bench_seeds(device, args.seeds, args.epochs)
    if args.command in ("quality", "all"):
        bench_quality(device, min(args.seeds, 8))


if __name__ == "__main__":
    main()
