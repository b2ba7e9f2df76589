"""Test data. The projects under verify/ are checked with real tools by tests/verify: their own
tests run in their copies there, never as part of this suite."""

collect_ignore_glob = ["verify/*"]
