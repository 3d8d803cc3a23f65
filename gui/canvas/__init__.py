"""The canvas: the node graph scene and its items, the view, the palette, quick-add and the
start card."""
