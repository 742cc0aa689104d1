"""The comparison's outputs in its folder: report.json (the schema below), results.csv, report.html.

`SCHEMA_VERSION` goes up when a field changes meaning or goes away; new fields may appear without it.
"""
from .files import CSV_COLUMNS, SCHEMA_VERSION, write_csv, write_json
from .html import write_html
from .labels import source_labels

__all__ = ["CSV_COLUMNS", "SCHEMA_VERSION", "source_labels", "write_csv", "write_html", "write_json"]
