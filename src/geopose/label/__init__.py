"""Training labels for one's own imagery: image-space AGL and flow from heights and view.

:func:`~geopose.label.tile.label_image` reprojects an nDSM (or DSM − DTM) to an
image's ground grid (:mod:`~geopose.label.heights`), takes the view from the
satellite's angles, WorldView metadata or the image's RPC model
(:mod:`~geopose.label.view`), and applies the synthetic renderer's ray rule
(:mod:`~geopose.label.make`).
"""
