"""cityhub: an NGSI-LD context broker and data hub for smart cities.

Layers (imports point down only): ``ngsild`` (pure model, @context, query languages) ←
``store`` (storage protocol and backends) ← services ← ``api`` / ``cli`` (delivery).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
