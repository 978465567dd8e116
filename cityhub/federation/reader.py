"""Reading a context source's entities into the internal form (ETSI GS CIM 009 v1.8.1 clause
4.3.6.2: the broker merges what sources answer with its own entities).

A source's answer is untrusted input and is checked like a client's (names, URIs, date-times,
geometries: a source never makes the hub store or render what a client could not send). Its
entities repeat themselves, so they are read by :class:`cityhub.ngsild.entity_reader.EntityReader`
(one per answer), which also keeps the ``modifiedAt`` the source gave for the merge.
"""

from __future__ import annotations

from typing import Any

from cityhub.ngsild.entity import Entity, Terms, expand_entity
from cityhub.ngsild.entity_reader import EntityReader, keep_modified_at


def remote_entity(body: Any, terms: Terms) -> Entity:
    """A source's entity (normalized, compacted with the ``@context`` it was sent) in the
    internal form, read the general way; the ``modifiedAt`` of its instances, when the source
    gave them, kept for the merge.

    Raises:
        CityhubError: ``body`` is not a valid NGSI-LD entity.
    """
    return keep_modified_at(expand_entity(body, terms), body, terms)


class SourceReader(EntityReader):
    """Reads the entities of one source's answer, as :func:`remote_entity` reads them.

    Args:
        terms: the @context the source's answer is compacted with.
    """

    def __init__(self, terms: Terms) -> None:
        super().__init__(terms, keep_modified=True)


__all__ = ["SourceReader", "remote_entity"]
