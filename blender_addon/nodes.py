"""Which shader node of a material or world renders: one lookup, for capture and apply (imports bpy).

Capture reads a material's Principled BSDF (and a world's Background) to describe it; apply edits
the same node. Both ask `surface_node`, so the node the model was told about is the one an edit
changes.
"""

from __future__ import annotations

import bpy

# Blender 5 renders every material and world with its node tree (`use_nodes` is deprecated there
# and always on); before it, a node tree is used only with `use_nodes` on, else the data-block's
# own colour (and a material's roughness and metallic) are what renders.
_ALWAYS_NODES = bpy.app.version >= (5, 0, 0)


def surface_node(owner: bpy.types.Material | bpy.types.World | None, node_type: str) -> bpy.types.ShaderNode | None:
    """The node of `node_type` ("BSDF_PRINCIPLED", "BACKGROUND") that `owner` renders with: the one
    feeding its active output's Surface, else the first one in its tree. None when it renders
    without nodes (no tree, or `use_nodes` off before Blender 5) or has no such node."""
    tree = getattr(owner, "node_tree", None)
    if tree is None or not (_ALWAYS_NODES or owner.use_nodes):
        return None
    output = tree.get_output_node("ALL")
    surface = output.inputs.get("Surface") if output is not None else None
    if surface is not None and surface.is_linked:
        node = surface.links[0].from_node
        if node.type == node_type:
            return node
    return next((n for n in tree.nodes if n.type == node_type), None)


def with_nodes(owner: bpy.types.Material | bpy.types.World) -> bpy.types.Material | bpy.types.World:
    """A new material or world given Blender's default nodes (Principled BSDF or Background into an
    output), as Blender 5 gives every new one and the New button did before."""
    if owner.node_tree is None:  # Blender < 5: data API materials and worlds start without nodes
        owner.use_nodes = True
    return owner
