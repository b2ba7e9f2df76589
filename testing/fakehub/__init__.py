"""A fake Konveyor Hub REST server for the hub addon tests (see server.py)."""

from testing.fakehub.server import Call, FakeHub

__all__ = ["Call", "FakeHub"]
