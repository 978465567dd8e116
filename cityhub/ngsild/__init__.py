"""The pure NGSI-LD layer: entity model, validation, @context term maps, query-language parsers.

Owns: everything that can be decided from a request's content alone.
May import: the standard library, ``cityhub.errors``, orjson. Never anything with I/O.
"""
