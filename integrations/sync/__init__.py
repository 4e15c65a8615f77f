"""The sync: fetch (Graph → mirror), classify, plan (pure), apply (contacts + audit).

`run_sync` in `runner.py` is the only entry point; everything else is a step.
"""
