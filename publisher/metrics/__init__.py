"""Metrics of published posts (snapshots collected from each network) and the monthly round-table report.

``figures`` computes what the report shows (pure), ``report`` writes the HTML and CSV, ``charts`` draws
the SVG bar charts with matplotlib (the optional ``report`` extra), ``texts`` holds the report's words.
"""
