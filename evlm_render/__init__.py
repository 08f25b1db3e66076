"""The offscreen renderer shared by `evlm-synth` and `evlm-batch` (trimesh + pyrender).

`render_views(parts, poses, intrinsics, width, height, world)` draws meshes the way the Blender
add-on's capture shows a scene (Workbench, its default): each part in its material's base colour
under studio lights tied to the camera, the world colour as background, and with `ids=True` an
object-ID pass drawn in `evlm.marks` colours, from which `evlm.marks.marks_from_ids` places the
set-of-marks. `png_bytes` / `write_png` encode the views. What runs where: `gl` (the OpenGL
platform, one renderer per process, one render thread), `draw` (scenes, lights, the passes),
`png` (files).
"""

from evlm_render.draw import Part, Render, render_views, srgb
from evlm_render.gl import renderer_started
from evlm_render.png import png_bytes, write_png

__all__ = ["Part", "Render", "png_bytes", "render_views", "renderer_started", "srgb", "write_png"]
