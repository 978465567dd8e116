"""The PostgreSQL/PostGIS store (``postgresql://`` URLs): asyncpg, versioned migrations, JSONB
documents, GiST geo index, several worker processes sharing one database. Imports
``cityhub.ngsild`` and ``cityhub.store.base``; never HTTP."""
