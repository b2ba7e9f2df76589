"""Test and benchmark support that is not part of the shipped package (`kantra_ai` never imports it).

Importable from the repository root: pytest puts it on the path (`pythonpath = ["."]`) and the
benchmarks run as `python -m bench...` from there.
"""
