"""A local HTTP server speaking the Anthropic Messages and OpenAI Chat Completions protocols.

For tests and benchmarks: the real SDKs talk to it over HTTP, with faults, latency, prompt caching
and rate limits to order. What it answers comes from a responder, usually the scripted model of
`kantra_ai.simulated.recipes`. Run it from a shell with `python -m testing.fakeprovider --port 8089`.
"""
