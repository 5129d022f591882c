"""Precision follows the hardware (DESIGN.md): with precision fp32, no op anywhere — forward, backward,
optimizer internals, evaluation, checkpoint loading, generation — sees a bfloat16 tensor.

On a CPU without AVX512-BF16 or AMX a bf16 matmul is emulated and many times slower than fp32, so a
stray `.bfloat16()` (as Muon's Newton–Schulz iterations once had) is a silent slowdown, not an error;
these tests watch every aten op the run dispatches and fail on the first bfloat16 tensor.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from test_pretrain import make_tokens
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from llmkit.checkpoint import load_model
from llmkit.engine import SamplingConfig, generate
from llmkit.train.common import TrainConfig, build_optimizer
from llmkit.train.muon import Muon
from llmkit.train.pretrain import run_pretrain

SHAPE = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=32)


class DtypeRecorder(TorchDispatchMode):
    """Records, for every dtype, the aten ops that had a tensor of it among their arguments or results."""

    def __init__(self):
        super().__init__()
        self.ops_by_dtype: dict[torch.dtype, set[str]] = defaultdict(set)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten((args, kwargs, out))[0]:
            if isinstance(t, torch.Tensor):
                self.ops_by_dtype[t.dtype].add(str(func))
        return out

    def ops(self, dtype: torch.dtype) -> set[str]:
        return self.ops_by_dtype.get(dtype, set())


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory):
    """One Muon training step of a tiny model at precision fp32, start to finish under the recorder:
    (the recorder, the checkpoint it wrote)."""
    folder = tmp_path_factory.mktemp("precision")
    tokens = make_tokens(folder / "data", sentences=30)
    cfg = TrainConfig(optimizer="muon", precision="fp32", max_steps=1, batch_size=4, warmup_steps=0,
                      eval_every=0, threads=1, peak_flops=1e11)  # fmt: skip
    threads = torch.get_num_threads()
    with DtypeRecorder() as recorder:
        run_pretrain(tokens, folder / "base", "tiny", SHAPE, cfg, eval_tokens=64, show_progress=False)
    torch.set_num_threads(threads)
    return recorder, folder / "base"


def test_an_fp32_muon_training_step_uses_no_bf16(fp32_run):
    recorder, _ = fp32_run
    assert not recorder.ops(torch.bfloat16), sorted(recorder.ops(torch.bfloat16))
    # ...and it saw the whole step: matmuls, Muon's momentum and Newton–Schulz (batched), AdamW's update
    fp32_ops = recorder.ops(torch.float32)
    assert {
        "aten.mm.default",
        "aten._foreach_lerp_.Scalar",
        "aten.bmm.default",
        "aten._fused_adamw_.default",
    } <= fp32_ops


def test_an_fp32_generation_uses_no_bf16(fp32_run):
    _, checkpoint = fp32_run
    with DtypeRecorder() as recorder:
        model, tokenizer, _ = load_model(checkpoint, device="cpu")
        prompts = [tokenizer.encode("The king and"), tokenizer.encode("The queen")]  # padded, shared prefill
        outputs = generate(model, prompts, SamplingConfig(max_new_tokens=6, top_k=20), samples_per_prompt=2)
    assert not recorder.ops(torch.bfloat16), sorted(recorder.ops(torch.bfloat16))
    # generation runs in inference mode, where a matmul reaches the recorder whole rather than as mm
    fp32_matmuls = {"aten.mm.default", "aten.matmul.default"} & recorder.ops(torch.float32)
    assert len(outputs) == 4 and all(outputs) and fp32_matmuls


def test_the_recorder_catches_bf16():
    """The two tests above can fail: a deliberate bf16 matmul is seen, and so is Muon stepping in bf16
    (what it did on every machine before precision reached it) — but not the same Muon at fp32."""
    with DtypeRecorder() as recorder:
        torch.ones(2).bfloat16() @ torch.ones(2, 3).bfloat16()
    assert "aten.mm.default" in recorder.ops(torch.bfloat16)

    from llmkit.model import Transformer, model_config

    model = Transformer(model_config("tiny", 300, **SHAPE))
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    for precision, sees_bf16 in (("bf16", True), ("fp32", False)):
        optimizer = build_optimizer(model, TrainConfig(optimizer="muon"), precision)
        assert isinstance(optimizer.optimizers[0], Muon)
        with DtypeRecorder() as recorder:
            optimizer.step()
        assert bool(recorder.ops(torch.bfloat16)) == sees_bf16, (precision, recorder.ops(torch.bfloat16))
