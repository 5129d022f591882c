"""`python -m llmkit` (also what `torchrun -m llmkit` runs)."""

from llmkit.cli import main

main()
