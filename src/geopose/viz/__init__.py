"""Figures and HTML building blocks of ``geopose report`` (one concept per module).

Everything draws on :class:`matplotlib.figure.Figure` objects directly (the Agg
renderer, no pyplot and no global backend switch), so it works headless and in
threads.
"""
