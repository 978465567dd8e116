"""Open data (issue 19): what a tenant publishes (its publishing rules), and the views of the
published data that the tools people already use can read: OGC API - Features, exports (CSV,
GeoJSON, Parquet), a DCAT-AP catalogue.

A service: it keeps its rules through ``cityhub.store.publishing.PublishingStore`` and reads
entities through the store protocols, importing no backend and no HTTP; ``cityhub.api``'s
``ogcapi``, ``exports``, ``catalog`` and ``publishing`` modules deliver it. Names are read and
shown with the NGSI-LD core @context (the default vocabulary), as access control's
permissions read them.
"""
