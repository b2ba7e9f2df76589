"""Verification: prove that fixes build (or pass the tests), repair what they broke, revert the rest.

`command.py` runs a check (the build or the tests) with a timeout that kills its whole process tree;
`detect.py` finds the check for a tree by its marker files; `diagnostics.py` turns a check's output
into file:line:message diagnostics and compares them with the baseline; `attribution.py` maps them to
the writes and incidents that caused them; `repair.py` asks the model to repair a file through the
same gates, store and budget as a fix; `bisect.py` finds which groups of writes broke a build on a
scratch copy; `reanalysis.py` compares a fresh analysis with the incidents a run fixed.
"""
