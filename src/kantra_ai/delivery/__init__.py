"""Delivery through git: commits, branches and pull requests built from the run store's write log.

Nothing here touches the user's working tree: commits are made with git's plumbing (a temporary
index, `commit-tree`, a compare-and-swap `update-ref`), so unrelated files, staged or not, are never
part of them, and no history the user made is rewritten.
"""
