"""llmkit: build a language model end to end, one stage at a time."""

__version__ = "0.1.0"
