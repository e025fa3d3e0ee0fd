"""Generation on several worker threads: ordered output, the same bytes as one thread, clean stops."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ganpat.chunk_workers import available_cpus, ordered_map
from ganpat.evaluation import open_model
from ganpat.generation import CHUNK, draws_randomness, generation_workers, rows, sample_chunks, write_samples

# three whole chunks and a partial one: more chunks than workers, and a short last chunk
SEVERAL_CHUNKS = 3 * CHUNK + 5


def worker_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ganpat-worker")]


def test_ordered_map_keeps_input_order():
    # later items take less work, so the workers tend to finish them out of order
    def compute(index: int) -> int:
        torch.randn(200 - index, 200).sum()
        return index * index

    assert list(ordered_map(compute, range(200), 3)) == [index * index for index in range(200)]


def test_ordered_map_raises_worker_error():
    def compute(index: int) -> int:
        if index == 5:
            raise ValueError("broken chunk")
        return index

    consumed = []
    with pytest.raises(ValueError, match="broken chunk"):
        for value in ordered_map(compute, range(100), 2):
            consumed.append(value)
    assert consumed == [0, 1, 2, 3, 4]
    assert worker_threads() == []


def test_ordered_map_stops_workers_when_closed():
    drawn = []

    def items():
        for index in range(1000):
            drawn.append(index)
            yield index

    iterator = ordered_map(lambda index: index, items(), 2)
    assert next(iterator) == 0
    iterator.close()
    assert worker_threads() == []
    # twice the worker count is drawn before the first item is yielded, and none after the close
    assert len(drawn) <= 4


def test_ordered_map_restores_thread_count():
    before = torch.get_num_threads()
    # two intra-op threads here, so that the workers' one thread differs from it
    torch.set_num_threads(2)
    try:
        list(ordered_map(lambda index: index, range(10), 2))
        counts = []
        fresh = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
        fresh.start()
        fresh.join()
        assert torch.get_num_threads() == 2
        assert counts == [2]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("fmt", ["npy", "csv", "json"])
def test_workers_write_same_bytes(curve_model, tmp_path, fmt):
    loaded, pattern = open_model(curve_model, None)
    written = []
    for workers in (1, 2, 3):
        output = tmp_path / f"samples-{workers}.{fmt}"
        write_samples(loaded, pattern, SEVERAL_CHUNKS, fmt, str(output), 7, False, "cpu", workers)
        written.append(output.read_bytes())
    assert written[1] == written[0]
    assert written[2] == written[0]


def test_workers_match_sequential_samples(curve_model, tmp_path):
    loaded, pattern = open_model(curve_model, None)
    output = tmp_path / "samples.npy"
    write_samples(loaded, pattern, SEVERAL_CHUNKS, "npy", str(output), 7, False, "cpu", 2)
    with torch.inference_mode():
        expected = np.concatenate([rows(samples, pattern, False) for samples in sample_chunks(loaded, SEVERAL_CHUNKS, 7)])
    assert generation_workers(loaded, SEVERAL_CHUNKS, "cpu", 2) == 2
    np.testing.assert_array_equal(np.load(output), expected)


def test_probe_finds_gumbel_head(curve_model, onehot_model):
    curve, _ = open_model(curve_model, None)
    onehot, _ = open_model(onehot_model, None)
    state = torch.get_rng_state()
    assert not draws_randomness(curve)
    assert draws_randomness(onehot)
    assert torch.equal(torch.get_rng_state(), state)


def test_gumbel_head_generates_on_one_thread(onehot_model, tmp_path):
    loaded, pattern = open_model(onehot_model, None)
    assert generation_workers(loaded, SEVERAL_CHUNKS, "cpu", 2) == 1
    written = []
    for workers in (1, 2):
        output = tmp_path / f"samples-{workers}.npy"
        write_samples(loaded, pattern, SEVERAL_CHUNKS, "npy", str(output), 3, False, "cpu", workers)
        written.append(output.read_bytes())
    with torch.inference_mode():
        expected = np.concatenate([rows(samples, pattern, False) for samples in sample_chunks(loaded, SEVERAL_CHUNKS, 3)])
    assert written[1] == written[0]
    np.testing.assert_array_equal(np.load(tmp_path / "samples-2.npy"), expected)


def test_one_chunk_uses_one_worker(curve_model):
    loaded, _ = open_model(curve_model, None)
    assert generation_workers(loaded, CHUNK, "cpu", 4) == 1
    assert generation_workers(loaded, CHUNK + 1, "cpu", 4) == 2


def test_workers_reject_zero(curve_model):
    loaded, _ = open_model(curve_model, None)
    with pytest.raises(ValueError, match="at least 1"):
        generation_workers(loaded, SEVERAL_CHUNKS, "cpu", 0)


@pytest.mark.parametrize("threads", [1, 2])
def test_default_workers_follow_torch_threads(curve_model, threads):
    loaded, _ = open_model(curve_model, None)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        expected = min(threads, available_cpus())
        assert generation_workers(loaded, SEVERAL_CHUNKS, "cpu", None) == expected
    finally:
        torch.set_num_threads(before)
