"""The exported Hugging Face folder reads and continues text exactly as llmkit does, through the real
transformers: plain text after <|endoftext|> (the BOS token), chat renderings without it, greedy
text from `pipeline` and `generate` equal to `llmkit generate`'s.

The base checkpoint is trained for a few seconds on sentences with fixed facts ("The king rides the
horse.") and the SFT checkpoint fine-tuned from it on questions about them, so their greedy text is
real text, and a prompt read without the leading <|endoftext|> visibly continues differently.
"""

from __future__ import annotations

import inspect
import json
import random

import pytest
import torch

from llmkit.checkpoint import load_model
from llmkit.engine import SamplingConfig, chat_stop_ids, generate
from llmkit.export import export_hf
from llmkit.generate import encode_prompt, run_generate
from llmkit.tokenize import tokenize_docs, train_tokenizer
from llmkit.tokenizer import load_tokenizer
from llmkit.train.common import TrainConfig
from llmkit.train.pretrain import run_pretrain
from llmkit.train.sft import run_sft

transformers = pytest.importorskip("transformers")

FACTS = {
    "king": "rides the horse",
    "queen": "reads the book",
    "miller": "grinds the grain",
    "baker": "bakes the bread",
    "sailor": "sails the sea",
    "farmer": "plants the seed",
}
SENTENCES = {who: f"The {who} {what}." for who, what in FACTS.items()}
PROMPTS = ["The", "The king", "The queen reads", "The baker", "The sailor sails the"]
CHATS = [
    [{"role": "user", "content": "What does the king do?"}],
    [{"role": "user", "content": "What does the sailor do?"}],
    [
        {"role": "user", "content": "What does the miller do?"},
        {"role": "assistant", "content": "The miller grinds the grain."},
        {"role": "user", "content": "What does the farmer do?"},
    ],
]
GREEDY = SamplingConfig(max_new_tokens=20, temperature=0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """The base and SFT checkpoints, and their Hugging Face exports (hf-base, hf-sft)."""
    root = tmp_path_factory.mktemp("fidelity")
    rng = random.Random(0)
    docs = [" ".join(SENTENCES[who] for who in rng.sample(list(FACTS), 3)) for _ in range(300)]
    docs += [f"What does the {who} do? {SENTENCES[who]}" for who in FACTS]  # so questions get merges too
    (root / "text.txt").write_text("\n".join(docs), encoding="utf-8")
    train_tokenizer(root / "text.txt", root / "tokenizer", vocab_size=300, show_progress=False)
    tokenize_docs(root / "text.txt", root / "tokenizer", root / "tokens", show_progress=False)
    with open(root / "chat.jsonl", "w", encoding="utf-8") as f:
        for who in rng.choices(list(FACTS), k=200):
            messages = [{"role": "user", "content": f"What does the {who} do?"}, {"role": "assistant", "content": SENTENCES[who]}]  # fmt: skip
            f.write(json.dumps({"messages": messages}) + "\n")
    threads = torch.get_num_threads()
    quick = dict(warmup_steps=5, eval_every=0, threads=1, seed=0, peak_flops=1e11)
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=128)
    run_pretrain(root / "tokens", root / "base", "tiny", shape, TrainConfig(max_steps=100, batch_size=8, lr=1e-2, **quick),
                 eval_tokens=256, show_progress=False)  # fmt: skip
    run_sft(root / "base", root / "chat.jsonl", root / "sft", TrainConfig(max_steps=60, batch_size=16, lr=5e-3, **quick),
            show_progress=False)  # fmt: skip
    torch.set_num_threads(threads)
    for name in ("base", "sft"):
        export_hf(root / name, root / f"hf-{name}")
    return {name: root / name for name in ("base", "sft", "hf-base", "hf-sft")}


@pytest.fixture(scope="module")
def pipes(folders) -> dict:
    """transformers' text-generation pipeline on each export."""
    return {
        name: transformers.pipeline("text-generation", model=str(folders[f"hf-{name}"]), dtype=torch.float32)
        for name in ("base", "sft")
    }


@pytest.mark.parametrize("name", ["base", "sft"])
def test_pipeline_continues_plain_text_as_llmkit_generate_does(folders, pipes, name):
    ours = [r["completion"] for r in run_generate(folders[name], PROMPTS, GREEDY, device="cpu")["results"]]
    if name == "base":  # real text: every continuation completes one of the facts
        texts = [prompt + text for prompt, text in zip(PROMPTS, ours, strict=True)]
        assert all(any(s in text for s in SENTENCES.values()) for text in texts), ours
    options = dict(do_sample=False, max_new_tokens=GREEDY.max_new_tokens, return_full_text=False)
    theirs = [out[0]["generated_text"] for out in pipes[name](PROMPTS, **options)]
    assert theirs == ours
    if name == "sft":  # the bug this guards against: without <|endoftext|> in front the model sees other context
        tok, model = pipes[name].tokenizer, pipes[name].model
        with torch.no_grad():
            for prompt in PROMPTS:
                with_eot = model(**tok(prompt, return_tensors="pt")).logits[0, -1]
                bare = model(**tok(prompt, return_tensors="pt", add_special_tokens=False)).logits[0, -1]
                assert not torch.allclose(with_eot, bare, atol=1e-3)


def test_tokenizer_puts_endoftext_in_front_of_plain_text_once(folders):
    ckpt, hf = folders["base"], folders["hf-base"]
    tok = transformers.AutoTokenizer.from_pretrained(hf)
    ours = load_tokenizer(ckpt)
    assert (tok.bos_token, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (
        "<|endoftext|>", ours.eot_id, ours.eot_id, ours.pad_id
    )  # fmt: skip
    texts = ["The king", "  spaces\tand\nnewlines  ", "digits 1234567 and 東京 🙂", "x"]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids == encode_prompt(ours, text, chat=False) == [ours.eot_id, *ours.encode(text)]
        assert tok(text, add_special_tokens=False)["input_ids"] == ours.encode(text)
        assert tok.decode(ids, skip_special_tokens=True) == text
    pair = tok("The king", "The queen")["input_ids"]  # two documents, each after <|endoftext|>, as packed
    assert pair == [ours.eot_id, *ours.encode("The king"), ours.eot_id, *ours.encode("The queen")]
    batch = tok(texts, padding=True)["input_ids"]
    expected = [encode_prompt(ours, text, chat=False) for text in texts]
    assert all(row[: len(ids)] == ids for row, ids in zip(batch, expected, strict=True))
    # llmkit reads special-token text in a prompt as text, so <|endoftext|> is there once; transformers
    # (like every Hugging Face tokenizer) reads it as the token unless told to split it
    for text in ["<|endoftext|>The king", "a<|im_end|>b"]:
        assert tok(text, split_special_tokens=True)["input_ids"] == encode_prompt(ours, text, chat=False)
    assert tok("<|endoftext|>The king")["input_ids"] == [ours.eot_id, ours.eot_id, *ours.encode("The king")]
    # tokenizer.json is still an llmkit tokenizer: same ids, still encoded by the tiktoken twin
    again = load_tokenizer(hf)
    assert again.encoder == ours.encoder == "tiktoken" and again.encode(texts[2]) == ours.encode(texts[2])


def test_chat_template_gives_llmkit_chat_ids_and_replies(folders, pipes):
    ckpt, hf = folders["sft"], folders["hf-sft"]
    tok = transformers.AutoTokenizer.from_pretrained(hf)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
    ours_model, ours, _ = load_model(ckpt, "cpu")
    replies = [r["completion"] for r in run_generate(ckpt, CHATS, GREEDY, device="cpu")["results"]]
    assert replies[:2] == [SENTENCES["king"], SENTENCES["sailor"]]  # the model learned its task
    for messages, reply in zip(CHATS, replies, strict=True):
        ids = ours.render_chat(messages, add_generation_prompt=True)[0]
        assert ids[0] == ours.im_start_id  # no <|endoftext|> in front of a chat, in llmkit or here
        enc = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        assert enc["input_ids"][0].tolist() == ids
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=GREEDY.max_new_tokens)
        new = out[0, len(ids) :].tolist()
        assert new == generate(ours_model, [ids], GREEDY, chat_stop_ids(ours))[0]  # the stop token too
        assert new[-1] == ours.im_end_id and tok.decode(new, skip_special_tokens=True) == reply
        chat = pipes["sft"](messages, do_sample=False, max_new_tokens=GREEDY.max_new_tokens)[0]
        assert chat["generated_text"][-1] == {"role": "assistant", "content": reply}
    if "sanitize_control_tokens" in inspect.signature(tok.apply_chat_template).parameters:
        # control-token text typed by a user: llmkit's render_chat encodes it as text, as this option does
        typed = [{"role": "user", "content": "Say <|im_end|><|endoftext|> now"}]
        options = dict(add_generation_prompt=True, return_dict=True, sanitize_control_tokens=True)
        ids = tok.apply_chat_template(typed, **options)["input_ids"]
        assert ids == ours.render_chat(typed, add_generation_prompt=True)[0]


def test_generation_and_model_config_name_bos_stop_and_pad_tokens(folders):
    ckpt, hf = folders["sft"], folders["hf-sft"]
    ours = load_tokenizer(ckpt)
    gen = transformers.GenerationConfig.from_pretrained(hf)
    assert gen.bos_token_id == ours.eot_id and gen.pad_token_id == ours.pad_id
    assert gen.eos_token_id == chat_stop_ids(ours)[::-1] == [ours.eot_id, ours.im_end_id]
    assert gen.do_sample is False
    config = transformers.AutoConfig.from_pretrained(hf)
    ids = (config.bos_token_id, config.eos_token_id, config.pad_token_id)
    assert ids == (ours.eot_id, ours.eot_id, ours.pad_id)
    tokenizer_config = json.loads((hf / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tokenizer_config["bos_token"] == "<|endoftext|>" and tokenizer_config["add_bos_token"] is True
