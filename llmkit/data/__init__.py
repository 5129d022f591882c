"""Data stages: crawl, extract, filter, dedup, scrub, and the shard executor they share."""
