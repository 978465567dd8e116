"""Pure parsers for q, scopeQ and type queries; imports nothing with I/O.

Owns: the query ASTs (``ast``), the q parser (clause 4.9, ``q``), the scopeQ parser (clause 4.19,
``scope``) and the entity type query parser (clause 4.17, ``types``). Backends compile the ASTs
(``cityhub.store.sqlite.compile``).
May import: the standard library, ``cityhub.errors``, ``cityhub.ngsild``.
"""

from cityhub.ngsild.query.ast import expand_q, expand_types
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query

__all__ = ["expand_q", "expand_types", "parse_q", "parse_scope_q", "parse_type_query"]
