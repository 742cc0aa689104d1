"""`codeckit normalize`: turn a messy video collection into a uniform training corpus (filters, clips, manifest, shards)."""
