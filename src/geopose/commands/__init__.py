"""One module per ``geopose`` verb; each exposes ``register(subparsers)``."""
