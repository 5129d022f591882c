"""Sampling: top-k, top-p, temperature, and generation with the KV cache against full recomputation."""

from __future__ import annotations

import pytest
import torch

from llmkit import engine
from llmkit import model as model_module
from llmkit.engine import SamplingConfig, generate, generate_stream, sample_next, top_k_filter, top_p_filter
from llmkit.errors import UserError
from llmkit.model import Transformer, model_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Transformer(model_config("tiny", 300, n_layers=2, d_model=64, seq_len=48)).eval()


def test_top_k_keeps_exactly_k_candidates_even_with_ties():
    logits = torch.tensor([[1.0, 5.0, 3.0, 3.0, 3.0, -2.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    for k in range(1, 6):
        kept = torch.isfinite(top_k_filter(logits, k))
        assert kept.sum(dim=-1).tolist() == [k, k]
    kept = torch.isfinite(top_k_filter(logits, 2))[0]
    assert kept[1] and kept[2:5].sum() == 1  # the best, then one of the tied 3.0s
    assert torch.equal(top_k_filter(logits, 0), logits)  # 0 = off
    # sampling never leaves the top k
    generator = torch.Generator().manual_seed(0)
    draws = {sample_next(logits[:1], 1.0, top_k=1, generator=generator).item() for _ in range(50)}
    assert draws == {1}


def test_top_p_keeps_the_smallest_nucleus_reaching_p():
    probs = torch.tensor([[0.5, 0.25, 0.15, 0.1]])
    logits = probs.log()
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]  # 0.5 alone reaches 0.5
    assert kept(0.6) == [True, True, False, False]
    assert kept(0.75) == [True, True, False, False]  # exactly reached: no more
    assert kept(0.76) == [True, True, True, False]
    assert kept(0.1) == [True, False, False, False]  # the top token always stays
    assert kept(1.0) == [True] * 4
    shuffled = logits[:, [2, 0, 3, 1]]  # order of the vocabulary does not matter
    assert torch.isfinite(top_p_filter(shuffled, 0.6))[0].tolist() == [False, True, False, True]


def test_temperature_zero_and_near_zero_equal_argmax():
    torch.manual_seed(0)
    logits = torch.randn(64, 300)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, 0.0), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 1e-4, generator=generator), logits.argmax(-1))


def test_sampling_follows_the_distribution():
    logits = torch.tensor([[0.0, 1.0, 2.0]]).repeat(20000, 1)
    draws = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, logits[0].softmax(-1), atol=0.015)


def test_greedy_with_kv_cache_equals_recomputing_everything(model):
    prompts = [[0, 5, 6, 7, 8, 9], [0, 1], [0] + [3] * 10]
    sampling = SamplingConfig(max_new_tokens=25, temperature=0)
    with_cache = generate(model, prompts, sampling)
    assert with_cache == generate(model, prompts, sampling, use_kv_cache=False)
    assert [len(x) for x in with_cache] == [25, 25, 25]
    # left padding changes nothing: each prompt alone generates the same tokens
    assert [generate(model, [p], sampling)[0] for p in prompts] == with_cache


def test_packed_decode_steps_give_the_same_ids(model, monkeypatch):
    """A long enough generation's decode steps multiply by matrices packed for its rows
    (model.PACKED_ROWS; this model's context is too short for PACKED_MIN_STEPS, so it is lowered):
    greedy and seeded sampling give the same ids as with packing off."""
    prompts = [[0, 5, 6, 7], [0, 1], [0, 9, 9], [0, 2, 4, 8, 16]]
    runs = [SamplingConfig(max_new_tokens=20, temperature=0), SamplingConfig(max_new_tokens=20, seed=3)]
    monkeypatch.setattr(model_module, "PACKED_MIN_STEPS", 20)
    packed = [generate(model, prompts, sampling) for sampling in runs]
    monkeypatch.setattr(model_module, "PACKED_ROWS", range(0))
    assert [generate(model, prompts, sampling) for sampling in runs] == packed


def test_seeded_sampling_with_cache_equals_recompute_and_is_reproducible(model):
    sampling = SamplingConfig(max_new_tokens=20, temperature=1.0, top_k=20, top_p=0.9, seed=7)
    prompts = [[0, 4, 4], [0, 9]]
    first = generate(model, prompts, sampling)
    assert first == generate(model, prompts, sampling, use_kv_cache=False)
    assert first == generate(model, prompts, sampling)
    assert first != generate(model, prompts, SamplingConfig(**{**sampling.__dict__, "seed": 8}))


def test_generation_stops_at_stop_tokens_and_at_the_context(model):
    sampling = SamplingConfig(max_new_tokens=30, temperature=0)
    free = generate(model, [[0, 1, 2]], sampling)[0]
    stop = free[4]
    stopped = generate(model, [[0, 1, 2], [0, 1, 2, 3]], sampling, stop_ids=[stop])
    assert stopped[0] == free[: free.index(stop) + 1]
    long_prompt = [1] * 40  # context 48: only 8 new tokens fit
    assert len(generate(model, [long_prompt], sampling)[0]) == 8


def test_bad_prompts_and_options(model):
    with pytest.raises(UserError, match="does not fit the model's context of 48"):
        generate(model, [[1] * 48], SamplingConfig())
    with pytest.raises(UserError, match="at least one token"):
        generate(model, [[]], SamplingConfig())
    for bad, flag in [
        (dict(temperature=-1), "--temperature"),
        (dict(top_k=-1), "--top-k"),
        (dict(top_p=0), "--top-p"),
        (dict(max_new_tokens=0), "--max-new-tokens"),
    ]:
        with pytest.raises(UserError, match=flag):
            SamplingConfig(**bad).validate()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_prefill_samples_equal_repeated_prompts(model, temperature):
    """GRPO's groups: prefilling each prompt once and copying its KV cache to its samples gives the
    tokens a batch of repeated prompts gives (left padding included), and the no-cache reference agrees."""
    prompts = [[5, 9, 17, 3, 8], [11, 2], [4, 4, 4, 4, 4, 4, 4, 4, 1]]
    sampling = SamplingConfig(max_new_tokens=12, temperature=temperature, top_k=50, seed=3)
    repeated = [p for p in prompts for _ in range(4)]
    expected = generate(model, repeated, sampling, stop_ids=[7])
    assert generate(model, prompts, sampling, stop_ids=[7], samples_per_prompt=4) == expected
    assert generate(model, prompts, sampling, [7], use_kv_cache=False, samples_per_prompt=4) == expected
    if temperature:  # the samples of one prompt differ from each other
        assert len({tuple(row) for row in expected[:4]}) > 1


def test_a_small_model_decodes_on_one_thread_and_the_thread_count_comes_back(model, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep, as the CLI sets
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        prompts = [[5, 6, 7], [8, 9]]
        greedy = SamplingConfig(max_new_tokens=6, temperature=0.0)
        stream = generate_stream(model, prompts, greedy)
        next(stream)
        assert torch.get_num_threads() == 1  # mid-generation: a 2-layer 64-wide model is small
        stream.close()  # a consumer that stops early (a client went away) gets its threads back
        assert torch.get_num_threads() == 2
        one_thread = generate(model, prompts, greedy)
        assert torch.get_num_threads() == 2
        # the same ids with all threads: the count changes speed, never tokens
        monkeypatch.setattr(engine, "SINGLE_THREAD_DECODE_FLOPS", 0)
        assert engine.decode_threads(model, 2) == 2
        assert generate(model, prompts, greedy) == one_thread
        # a model whose weights pass the limit keeps all threads however few rows it decodes
        monkeypatch.setattr(engine, "SINGLE_THREAD_DECODE_FLOPS", 1e18)
        assert engine.decode_threads(model, 1) == 1
        monkeypatch.setattr(engine, "SINGLE_THREAD_DECODE_WEIGHT_BYTES", 1000)
        assert engine.decode_threads(model, 1) == 2
        # spinning threads wake at once: then a small model keeps them all
        monkeypatch.setattr(engine, "SINGLE_THREAD_DECODE_WEIGHT_BYTES", 2**40)
        assert engine.decode_threads(model, 1) == 1
        monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
        assert engine.decode_threads(model, 1) == 2
        monkeypatch.delenv("OMP_WAIT_POLICY")
        assert engine.decode_threads(model, 1) == 2
    finally:
        torch.set_num_threads(before)
