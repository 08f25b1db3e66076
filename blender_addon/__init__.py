"""EVLM for Blender: type a vague instruction, get validated edit suggestions, apply one as one undo step.

A Blender 4.2+ extension (see blender_manifest.toml). The wire contract (`evlm_server`) and the
feedback record format (`training.data`) come from the project's own wheel bundled in the
extension, never from copies. Everything here imports bpy; the logic that can live without it
is in `evlm.session` and `evlm.feedback`.
"""

from . import preferences, ui


def register() -> None:
    preferences.register()
    try:
        ui.register()
    except Exception:
        preferences.unregister()  # leave nothing half-registered
        raise


def unregister() -> None:
    ui.unregister()
    preferences.unregister()
