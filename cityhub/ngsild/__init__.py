"""The pure NGSI-LD layer: entity model, validation, @context term maps, query-language parsers.

Owns: everything that can be decided from a request's content alone.
May import: the standard library, ``cityhub.errors``, orjson, shapely, re2 (only
``ngsild/regex.py``: callers' regular expressions). Never anything with I/O.
"""
