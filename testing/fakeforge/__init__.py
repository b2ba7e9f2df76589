"""A fake GitHub/GitLab REST server for the delivery tests (see server.py)."""

from testing.fakeforge.server import Call, FakeForge

__all__ = ["Call", "FakeForge"]
