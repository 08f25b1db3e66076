"""Add-on preferences: where the server is, how the scene is captured, where feedback goes.

`bl_idname` is the add-on's package name: "bl_ext.<repo>.evlm" when installed as an extension,
"blender_addon" when registered from the source tree. `get_prefs` falls back to the defaults
when the add-on was registered without being enabled (headless runs, some tests).
"""

# No `from __future__ import annotations`: bpy reads the property annotations as objects.
import math
import os
from types import SimpleNamespace
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from evlm.client import CurveKeys
from evlm.protocol import DEFAULT_ENDPOINT, Limits, is_local_endpoint

ADDON_ID = __package__

ENGINES = [
    ("WORKBENCH", "Workbench", "Fast solid shading; works headless"),
    ("EEVEE", "Eevee", "Rasterized materials and lights"),
    ("CYCLES", "Cycles", "Path traced (slow)"),
]


class EVLMPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    endpoint: StringProperty(
        name="Server",
        description="ZeroMQ endpoint of evlm-server (tcp://host:port or ipc://path)",
        default=DEFAULT_ENDPOINT,
    )
    timeout: FloatProperty(
        name="Timeout",
        description="Seconds without word from the server before a request is given up",
        default=60.0,
        min=1.0,
        max=600.0,
        subtype="TIME_ABSOLUTE",
    )
    max_suggestions: IntProperty(name="Suggestions", description="How many to ask for", default=3, min=1, max=5)
    views: IntProperty(
        name="Views", description="Orbit views rendered around the scene", default=6, min=1, max=Limits().max_views
    )
    resolution: IntProperty(
        name="Resolution",
        description="Pixels on the long side of each view",
        default=384,
        min=64,
        max=math.isqrt(Limits().max_pixels),
    )
    engine: EnumProperty(name="Render engine", items=ENGINES, default="WORKBENCH")
    frames: IntProperty(
        name="Frames",
        description="Frames captured across the animation's range (1: the current frame only)",
        default=1,
        min=1,
        max=16,
    )
    include_active_camera: BoolProperty(
        name="Active camera view", description="Also render the view of the scene's camera", default=False
    )
    active_camera_with_reference: BoolProperty(
        name="Active camera with a reference",
        description=(
            "With a reference image attached, also render the view of the scene's camera "
            "(the reference was most likely taken from there)"
        ),
        default=True,
    )
    marks: BoolProperty(
        name="Set-of-marks",
        description="Draw object indices on the views so the model can tie what it sees to object names",
        default=True,
    )
    stream: BoolProperty(name="Stream reasoning", description="Show the reasoning while it is written", default=True)
    server_public_key: StringProperty(
        name="Server public key", description="CURVE: the server's server.key file", subtype="FILE_PATH"
    )
    client_secret_key: StringProperty(
        name="Client secret key", description="CURVE: this client's clientN.key_secret file", subtype="FILE_PATH"
    )
    feedback_dir: StringProperty(
        name="Feedback folder",
        description="Where Apply / Reject / ratings are saved as training records (empty: not saved)",
        subtype="DIR_PATH",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        col = layout.column(heading="Server")
        col.prop(self, "endpoint")
        col.prop(self, "timeout")
        col.prop(self, "max_suggestions")
        col.prop(self, "stream")
        col = layout.column(heading="Capture")
        col.prop(self, "views")
        col.prop(self, "resolution")
        col.prop(self, "engine")
        col.prop(self, "frames")
        col.prop(self, "include_active_camera")
        col.prop(self, "active_camera_with_reference")
        col.prop(self, "marks")
        col = layout.column(heading="Encryption (CURVE)")
        col.prop(self, "server_public_key")
        col.prop(self, "client_secret_key")
        layout.prop(self, "feedback_dir")


def defaults() -> SimpleNamespace:
    """The preferences' default values, read from the property definitions."""
    values = {}
    for name, prop in EVLMPreferences.__annotations__.items():
        keywords = getattr(prop, "keywords", {})
        values[name] = keywords.get("default", "" if prop.function is StringProperty else None)
    return SimpleNamespace(**values)


def get_prefs(context: bpy.types.Context | None = None) -> Any:
    """This add-on's preferences, or the defaults when it is registered but not enabled."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else defaults()


def engine_id(choice: str) -> str:
    """The render engine identifier of this Blender (Eevee is BLENDER_EEVEE_NEXT in 4.2-4.5)."""
    if choice == "WORKBENCH":
        return "BLENDER_WORKBENCH"
    if choice == "CYCLES":
        return "CYCLES"
    if choice == "EEVEE":
        known = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
        return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in known else "BLENDER_EEVEE"
    raise ValueError(f"unknown render engine {choice!r}: one of {', '.join(e[0] for e in ENGINES)}")


def capture_settings(
    prefs: Any, scene: Any = None, with_reference: bool = False, max_images: int = Limits().max_views
) -> Any:
    """The capture module's settings from the preferences (ValueError if the server would refuse them).

    The scene camera's view is included when asked for, and by default when a reference image is
    attached (and `scene` has a camera): the reference was most likely taken from there.
    """
    from .capture import CaptureSettings

    active = bool(prefs.include_active_camera) or bool(
        with_reference and prefs.active_camera_with_reference and scene is not None and scene.camera is not None
    )
    images = (prefs.views + active) * prefs.frames
    if images > max_images:
        raise ValueError(
            f"{prefs.views + active} views x {prefs.frames} frames = {images} images; "
            f"the server takes at most {max_images}: use fewer views or frames"
        )
    return CaptureSettings(
        views=prefs.views,
        resolution=prefs.resolution,
        engine=engine_id(prefs.engine),
        frames=prefs.frames,
        include_active_camera=active,
        marks=prefs.marks,
    )


def curve_keys(prefs: Any) -> CurveKeys | None:
    """CURVE key files from the preferences: both or neither. Raises ValueError with what is wrong."""
    public = bpy.path.abspath(prefs.server_public_key).strip() if prefs.server_public_key else ""
    secret = bpy.path.abspath(prefs.client_secret_key).strip() if prefs.client_secret_key else ""
    if not public and not secret:
        return None
    if not (public and secret):
        raise ValueError("CURVE needs both the server's public key and this client's secret key file")
    for path in (public, secret):
        if not os.path.isfile(path):
            raise ValueError(f"key file not found: {path}")
    return CurveKeys(server_public_file=public, client_secret_file=secret)


def check_endpoint(endpoint: str) -> str:
    """A usable endpoint, allowed by Blender's "Allow Online Access" setting. Raises ValueError."""
    endpoint = (endpoint or "").strip()
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("tcp", "ipc") or not rest:
        raise ValueError(f"endpoint {endpoint!r} is not tcp://host:port or ipc://path")
    if not bpy.app.online_access and not is_local_endpoint(endpoint):
        raise ValueError(
            f"{endpoint} is on the network and Blender's online access is off "
            "(Preferences > System > Network): use a local server or allow online access"
        )
    return endpoint


def feedback_folder(prefs: Any) -> str | None:
    """The absolute feedback folder, or None when feedback is not kept."""
    path = (prefs.feedback_dir or "").strip()
    return bpy.path.abspath(path) if path else None


CLASSES = (EVLMPreferences,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
