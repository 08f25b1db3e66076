"""Synthetic reflective-edit data: procedural scenes rendered headless, ambiguous instructions by
family, gold plans valid against their scenes, and graded variants with continuous scores.

Run it with `evlm-synth --n N --out DIR` (cli.py); the pipeline is generate.py.
"""
