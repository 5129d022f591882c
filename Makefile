# llmkit: set-up, the demo pipeline, tests, lint and benchmarks.
#   make demo    create .venv, install, run the pipeline on sample_data/ into runs/demo/
#   make test    create .venv, install with dev extras, run the test suite
# Knobs: PYTHON=python3.11  TORCH="torch==2.13.0"  TORCH_INDEX=https://download.pytorch.org/whl/cpu
#        RUN=runs/demo  WORKERS=2

PYTHON  ?= python3
TORCH   ?= torch==2.13.0
TORCH_INDEX ?=
VENV    ?= .venv
RUN     ?= runs/demo
WORKERS ?= 2
PYTEST_ARGS ?=

BIN     := $(VENV)/bin
LLMKIT  := $(BIN)/llmkit

.PHONY: setup setup-dev demo report test lint bench clean distclean

# The venv is cached: each stamp depends on pyproject.toml, so a second `make` installs nothing.
# torch is installed first, pinned, so the resolver never picks a torch build by itself. Its stamp is
# named after TORCH and TORCH_INDEX, so changing either (`make setup TORCH=torch==2.5.1`) reinstalls
# torch, and setting them back to an earlier value does too.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' '$(TORCH) $(TORCH_INDEX)' | cksum | cut -d' ' -f1)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "llmkit needs Python >= 3.11 (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(TORCH_STAMP): | $(BIN)/python
	@rm -f $(VENV)/.torch-*
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) )"$(TORCH)"
	@touch $@

$(VENV)/.installed: pyproject.toml $(TORCH_STAMP) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

# The test suite also runs the data stages on a local Ray instance, so it installs the ray extra.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,ray]"
	@touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check llmkit tests benchmarks sample_data

# Benchmarks also install the bench extra: the reference implementations they compare against.
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e ".[dev,ray,bench]"
	@touch $@

bench: $(VENV)/.installed-bench
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache .ruff_cache benchmarks/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info

# ------------------------------------------------------------------------------ the demo pipeline
# Each target is a stage's manifest.json, so make re-runs a stage only when its inputs changed, and a
# stage that died (no manifest) simply runs again. --force lets a re-run replace an older output.
# Each stage also depends on a flags file holding its options, rewritten only when they change, so
# changing one knob re-runs that stage and what depends on it, and nothing else.
# Knobs: RUN, WARC (files or URLs) or CC_CRAWL + CC_FILES (+ CC_BASE_URL for a mirror), WORKERS, VOCAB, PRESET, STEPS, DEVICE, SFT_EPOCHS, EVAL_TASKS.

WARC       ?= $(sort $(wildcard sample_data/crawl/*.warc.gz))
CC_CRAWL   ?=
CC_FILES   ?= 1
CC_BASE_URL ?=
VOCAB      ?= 4096
PRESET     ?= tiny
STEPS      ?= 200
DEVICE     ?= auto
SFT_EPOCHS ?= 10
LOCAL_WARC := $(if $(CC_CRAWL),,$(filter-out http://% https://%,$(WARC)))

ARGS_crawl     = $(if $(CC_CRAWL),--cc-crawl $(CC_CRAWL) --cc-files $(CC_FILES)$(if $(CC_BASE_URL), --cc-base-url $(CC_BASE_URL)),$(WARC)) --workers $(WORKERS)
ARGS_extract   = --workers $(WORKERS)
ARGS_filter    = --workers $(WORKERS)
ARGS_dedup     = --workers $(WORKERS)
ARGS_scrub     = --workers $(WORKERS)
ARGS_tokenizer = --vocab-size $(VOCAB) --digits single
ARGS_tokens    = --threads $(WORKERS)
ARGS_base      = --preset $(PRESET) --max-steps $(STEPS) --eval-every 50 --device $(DEVICE)
ARGS_sft       = --epochs $(SFT_EPOCHS) --lr 3e-3 --device $(DEVICE)
ARGS_rm        = --epochs 2 --lr 3e-4 --device $(DEVICE)
ARGS_ppo       = --rollouts 10 --rollout-size 16 --minibatches 2 --lr 1e-4 --device $(DEVICE)
ARGS_dpo       = --device $(DEVICE)
ARGS_grpo      = --max-steps 200 --group-size 4 --batch-size 16 --lr 3e-4 --kl-coef 0.1 --eval-every 50 --val-fraction 0.2 --max-val 200 --device $(DEVICE)
FLAGS          = $(RUN)/.flags

# Rewritten only when the stage's options differ from the last run's: its timestamp is the change.
$(FLAGS)/%: FORCE
	@mkdir -p $(@D)
	@echo '$(ARGS_$*)' | cmp -s - $@ || echo '$(ARGS_$*)' > $@

.PHONY: FORCE
FORCE:

demo: $(VENV)/.installed $(RUN)/eval-dpo/manifest.json $(RUN)/generations/manifest.json $(RUN)/curves.png $(RUN)/hf/config.json \
      $(RUN)/eval-ppo/manifest.json $(RUN)/eval-grpo/manifest.json
	@echo "demo done: every stage is in $(RUN)/; look at one with: $(LLMKIT) inspect $(RUN)/kept"

# The report card of the demo run: data funnel, tokenizer, training curves, evals, generations.
report: demo
	$(LLMKIT) report $(RUN) --force

$(RUN)/curves.png: $(RUN)/base/manifest.json $(RUN)/sft/manifest.json $(RUN)/ppo/manifest.json
	$(LLMKIT) plot $(RUN)/base $(RUN)/sft $(RUN)/ppo -o $@ --force

$(RUN)/hf/config.json: $(RUN)/sft/manifest.json
	$(LLMKIT) export $(RUN)/sft $(RUN)/hf --format hf --force

$(RUN)/pages/manifest.json: $(LOCAL_WARC) $(FLAGS)/crawl | $(VENV)/.installed
	$(LLMKIT) crawl $(ARGS_crawl) -o $(RUN)/pages --force

$(RUN)/text/manifest.json: $(RUN)/pages/manifest.json $(FLAGS)/extract
	$(LLMKIT) extract $(RUN)/pages -o $(RUN)/text $(ARGS_extract) --force

$(RUN)/kept/manifest.json: $(RUN)/text/manifest.json $(FLAGS)/filter
	$(LLMKIT) filter $(RUN)/text -o $(RUN)/kept $(ARGS_filter) --force

$(RUN)/unique/manifest.json: $(RUN)/kept/manifest.json $(FLAGS)/dedup
	$(LLMKIT) dedup $(RUN)/kept -o $(RUN)/unique $(ARGS_dedup) --force

# With EVAL_TASKS (evaluation task files or folders of them), documents that contain one of their
# questions are removed between dedup and scrub (13-gram overlap; see docs/eval-suites.md).
EVAL_TASKS ?=
ARGS_decontaminate = $(foreach t,$(EVAL_TASKS),--against $(t)) --workers $(WORKERS)
SCRUB_INPUT := $(RUN)/$(if $(strip $(EVAL_TASKS)),decontaminated,unique)

$(RUN)/decontaminated/manifest.json: $(RUN)/unique/manifest.json $(EVAL_TASKS) $(FLAGS)/decontaminate
	$(LLMKIT) decontaminate $(RUN)/unique -o $(RUN)/decontaminated $(ARGS_decontaminate) --force

$(RUN)/clean/manifest.json: $(SCRUB_INPUT)/manifest.json $(FLAGS)/scrub
	$(LLMKIT) scrub $(SCRUB_INPUT) -o $(RUN)/clean $(ARGS_scrub) --force

$(RUN)/tokenizer/manifest.json: $(RUN)/clean/manifest.json $(FLAGS)/tokenizer
	$(LLMKIT) train-tokenizer $(RUN)/clean -o $(RUN)/tokenizer $(ARGS_tokenizer) --force

$(RUN)/tokens/manifest.json: $(RUN)/clean/manifest.json $(RUN)/tokenizer/manifest.json $(FLAGS)/tokens
	$(LLMKIT) tokenize $(RUN)/clean $(RUN)/tokenizer -o $(RUN)/tokens $(ARGS_tokens) --force

$(RUN)/base/manifest.json: $(RUN)/tokens/manifest.json $(FLAGS)/base
	$(LLMKIT) pretrain $(RUN)/tokens -o $(RUN)/base $(ARGS_base) --force

$(RUN)/chat/manifest.json: sample_data/chat.jsonl | $(VENV)/.installed
	$(LLMKIT) import $< -o $(RUN)/chat --force

$(RUN)/prefs/manifest.json: sample_data/prefs.jsonl | $(VENV)/.installed
	$(LLMKIT) import $< -o $(RUN)/prefs --force

$(RUN)/prompts/manifest.json: sample_data/prompts.jsonl | $(VENV)/.installed
	$(LLMKIT) import $< -o $(RUN)/prompts --force

$(RUN)/sft/manifest.json: $(RUN)/base/manifest.json $(RUN)/chat/manifest.json $(FLAGS)/sft
	$(LLMKIT) sft $(RUN)/base $(RUN)/chat -o $(RUN)/sft $(ARGS_sft) --force

$(RUN)/rm/manifest.json: $(RUN)/sft/manifest.json $(RUN)/prefs/manifest.json $(FLAGS)/rm
	$(LLMKIT) train-reward $(RUN)/sft $(RUN)/prefs -o $(RUN)/rm $(ARGS_rm) --force

$(RUN)/dpo/manifest.json: $(RUN)/sft/manifest.json $(RUN)/prefs/manifest.json $(FLAGS)/dpo
	$(LLMKIT) dpo $(RUN)/sft $(RUN)/prefs -o $(RUN)/dpo $(ARGS_dpo) --force

EVAL_SUITE := sample_data/eval/suite.toml
EVAL_ARGS   = --suite $(EVAL_SUITE) --max-examples 64 --device $(DEVICE) --force

$(RUN)/ppo/manifest.json: $(RUN)/sft/manifest.json $(RUN)/rm/manifest.json $(RUN)/prompts/manifest.json $(FLAGS)/ppo
	$(LLMKIT) ppo $(RUN)/sft $(RUN)/rm $(RUN)/prompts -o $(RUN)/ppo $(ARGS_ppo) --force

$(RUN)/grpo/manifest.json: $(RUN)/sft/manifest.json $(RUN)/prompts/manifest.json $(FLAGS)/grpo
	$(LLMKIT) grpo $(RUN)/sft $(RUN)/prompts -o $(RUN)/grpo $(ARGS_grpo) --force

$(RUN)/eval-base/manifest.json: $(RUN)/base/manifest.json $(EVAL_SUITE)
	$(LLMKIT) eval $(RUN)/base $(RUN)/tokens -o $(RUN)/eval-base $(EVAL_ARGS)

$(RUN)/eval-sft/manifest.json: $(RUN)/sft/manifest.json $(RUN)/eval-base/manifest.json
	$(LLMKIT) eval $(RUN)/sft $(RUN)/tokens -o $(RUN)/eval-sft $(EVAL_ARGS) --compare $(RUN)/eval-base

$(RUN)/eval-dpo/manifest.json: $(RUN)/dpo/manifest.json $(RUN)/rm/manifest.json $(RUN)/eval-sft/manifest.json
	$(LLMKIT) eval $(RUN)/dpo $(RUN)/tokens -o $(RUN)/eval-dpo $(EVAL_ARGS) --reward-model $(RUN)/rm --baseline $(RUN)/sft --compare $(RUN)/eval-sft

$(RUN)/eval-ppo/manifest.json: $(RUN)/ppo/manifest.json $(RUN)/rm/manifest.json $(RUN)/eval-sft/manifest.json
	$(LLMKIT) eval $(RUN)/ppo $(RUN)/tokens -o $(RUN)/eval-ppo $(EVAL_ARGS) --reward-model $(RUN)/rm --baseline $(RUN)/sft --compare $(RUN)/eval-sft

$(RUN)/eval-grpo/manifest.json: $(RUN)/grpo/manifest.json $(RUN)/eval-sft/manifest.json
	$(LLMKIT) eval $(RUN)/grpo $(RUN)/tokens -o $(RUN)/eval-grpo $(EVAL_ARGS) --compare $(RUN)/eval-sft

$(RUN)/generations/manifest.json: $(RUN)/sft/manifest.json
	$(LLMKIT) generate $(RUN)/sft "What is the best way to keep basil fresh?" "Tell me about the weather." -o $(RUN)/generations --chat --temperature 0.7 --top-k 40 --max-new-tokens 64 --force

# ------------------------------------------------------------------------------ tool use (docs/tools.md)
# The calculator demo: SFT on calculator transcripts from the demo's base model, GRPO with the calculator,
# and exact match on held-out multi-digit problems: the demo's SFT model (no tool data, no tools) against
# the tool-trained models with the calculator.
TOOLS_DATA      := sample_data/tools
TOOLS_EVAL_ARGS  = --max-new-tokens 64 --device $(DEVICE) --force
ARGS_sft_tools_a = --epochs 10 --lr 3e-3 --device $(DEVICE)
ARGS_sft_tools   = --epochs 10 --lr 3e-3 --device $(DEVICE)
ARGS_grpo_tools  = --tools calculator --max-new-tokens 64 --group-size 4 --batch-size 8 --max-steps 20 --lr 1e-4 --eval-every 0 --max-val 32 --device $(DEVICE)

.PHONY: tools-demo
tools-demo: $(RUN)/eval-tools-sft/manifest.json $(RUN)/eval-tools-sft-tools-a/manifest.json $(RUN)/eval-tools-sft-tools/manifest.json $(RUN)/eval-tools-grpo/manifest.json
	@echo "tools demo done: exact match on $(TOOLS_DATA)/heldout.jsonl in $(RUN)/eval-tools-*/"

# two rounds of SFT (10 epochs, then 10 more with a fresh schedule): what the measured run did; the
# second round is where copying digits clicks (SFT validation loss 0.047 → 0.0002)
$(RUN)/sft-tools-a/manifest.json: $(RUN)/base/manifest.json $(TOOLS_DATA)/train.jsonl $(FLAGS)/sft_tools_a
	$(LLMKIT) sft $(RUN)/base $(TOOLS_DATA)/train.jsonl -o $(RUN)/sft-tools-a $(ARGS_sft_tools_a) --force

$(RUN)/sft-tools/manifest.json: $(RUN)/sft-tools-a/manifest.json $(TOOLS_DATA)/train.jsonl $(FLAGS)/sft_tools
	$(LLMKIT) sft $(RUN)/sft-tools-a $(TOOLS_DATA)/train.jsonl -o $(RUN)/sft-tools $(ARGS_sft_tools) --force

$(RUN)/grpo-tools/manifest.json: $(RUN)/sft-tools/manifest.json $(TOOLS_DATA)/prompts.jsonl $(FLAGS)/grpo_tools
	$(LLMKIT) grpo $(RUN)/sft-tools $(TOOLS_DATA)/prompts.jsonl -o $(RUN)/grpo-tools $(ARGS_grpo_tools) --force

$(RUN)/eval-tools-sft/manifest.json: $(RUN)/sft/manifest.json $(TOOLS_DATA)/heldout.jsonl
	$(LLMKIT) eval $(RUN)/sft $(TOOLS_DATA)/heldout.jsonl -o $(@D) $(TOOLS_EVAL_ARGS)

$(RUN)/eval-tools-sft-tools-a/manifest.json: $(RUN)/sft-tools-a/manifest.json $(TOOLS_DATA)/heldout.jsonl
	$(LLMKIT) eval $(RUN)/sft-tools-a $(TOOLS_DATA)/heldout.jsonl -o $(@D) --tools calculator $(TOOLS_EVAL_ARGS)

$(RUN)/eval-tools-sft-tools/manifest.json: $(RUN)/sft-tools/manifest.json $(TOOLS_DATA)/heldout.jsonl
	$(LLMKIT) eval $(RUN)/sft-tools $(TOOLS_DATA)/heldout.jsonl -o $(@D) --tools calculator $(TOOLS_EVAL_ARGS)

$(RUN)/eval-tools-grpo/manifest.json: $(RUN)/grpo-tools/manifest.json $(TOOLS_DATA)/heldout.jsonl
	$(LLMKIT) eval $(RUN)/grpo-tools $(TOOLS_DATA)/heldout.jsonl -o $(@D) --tools calculator $(TOOLS_EVAL_ARGS)
