"""The Seongnam demo city: ``cityhub demo``.

Owns the demo city's model (the real districts and AirKorea station sites shipped in
``cityhub/data``, plus synthetic assets placed inside them), the pure daily and seasonal patterns
that drive its readings (``cityhub.demo.patterns``), and the simulator that keeps the city alive.

The simulator talks to the hub only through the NGSI-LD HTTP API (httpx), like any other client:
nothing here imports ``cityhub.store`` or ``cityhub.api``.
"""
