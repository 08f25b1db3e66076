"""The Blender-built evaluation set: does the model make the right edit on real Blender scenes?

- `scenes.py` (bpy, with `build.py`'s helpers): seven scenes built in code;
- `cases.py`: the cases (instruction, kind, expected targets, check, gold and decoy edits);
- `checks.py` over `state.py`: predicates on the scene before and after an edit (pure Python);
- `measure.py` (bpy): the scene read into a `state.SceneState`;
- `run.py` (bpy): each case through capture -> server -> apply, one JSON line each;
- `cli.py`, `report.py`: `evlm-eval --blender`, the server, the report per kind.

Modules marked bpy run in Blender's Python (`.venv-blender`); the others import in either.
"""
