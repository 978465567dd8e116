"""The IoT agent inside the hub (issue 18): devices that speak UltraLight 2.0 or plain JSON over
HTTP or MQTT become NGSI-LD entity updates through the hub's own write path.

A service: it imports ``cityhub.ngsild``, ``cityhub.provision`` and the store protocols
(``cityhub.store.base``, ``cityhub.store.iot``), never a backend, ``cityhub.api`` or the app.
Its HTTP routes are ``cityhub.api.iot`` (provisioning) and ``cityhub.api.iot_measures`` (the
HTTP transport).

Modules, one concept each:

- ``errors``: the error types, NGSI-LD ProblemDetails that also carry FIWARE's ``name`` and
  ``message`` members;
- ``provisioning``: config groups and devices, validated (iotagent-node-lib's provisioning API);
- ``expression_syntax``, ``expressions``, ``expression_functions``: the JEXL subset, parsed,
  evaluated safely, and its transforms;
- ``ultralight``: UltraLight 2.0 payloads; ``json_measures``: JSON payloads; ``measures``: a
  device's measures to an NGSI-LD entity fragment (mapping, expressions, types, unitCode,
  observedAt);
- ``agent``: the provisioning operations over the store and the measure path;
- ``ingest``: batched commits of measures; ``health``: the ``Device`` entity and error counts;
- ``mqtt``: the MQTT transport; ``commands``: commands to devices and their status.
"""
