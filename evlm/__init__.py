"""The pure core of EVLM for Blender: what every other package stands on.

The wire contract (`protocol`, `scene`, `edits`, `client`), the add-on's pure logic (`session`,
`views`, `keyframes`), plans as text (`plantext`), and the training and feedback record formats
(`record`, `feedback`). It imports neither torch nor bpy (tests/test_layers.py checks), so the
Blender add-on bundles it as a wheel, and the server, batch and training share it.
"""
