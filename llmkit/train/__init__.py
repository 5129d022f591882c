"""Training stages. `common` holds the one training loop they share; each stage module (pretrain, and
later sft, reward, ppo, dpo) supplies its batches and loss."""
