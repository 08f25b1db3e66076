"""Synthetic reflective-edit data: artists' scenes built procedurally and rendered headless,
instructions that call for every op of the vocabulary, gold plans computed from the scene and
valid against it, and graded variants with continuous scores.

Run it with `evlm-synth --n N --out DIR` (cli.py); the pipeline is generate.py; what the gen split
holds out is heldout.py; scenes.py and kinds.py build the scenes, families/ the tasks.
"""
