"""The scripted model behind `--provider simulated`: known-correct fixes for the bundled examples.

Shipped so the demo runs from an installed wheel with no API key. The HTTP fake provider of the
tests and benchmarks (`testing/fakeprovider/`, not shipped) serves the same responder over the wire.
"""
