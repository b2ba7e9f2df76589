"""Portfolio runs: many applications, one manifest, one budget, one rate limit (issue 19)."""
