"""Federation: distributed operations (ETSI GS CIM 009 v1.8.1 clause 4.3.6, 5.7.1.4,
5.7.2.4). A read this broker answers also goes to the context sources whose registrations
match it, and their entities merge with the local ones (``cityhub.ngsild.federation`` holds
the rules; :mod:`cityhub.federation.service` sends the requests).
"""

from cityhub.federation.service import Ask, Federated, Federation

__all__ = ["Ask", "Federated", "Federation"]
