"""kantra-ai: fix Konveyor migration findings with LLMs."""

__version__ = "0.1.0"
