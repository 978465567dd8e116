"""Access for companies and operators (issue 20): managed tenants, identities (API keys and
OAuth2/OIDC bearer tokens), permissions in Stellio's shape, quotas and the audit log.

A service: it keeps its rows through ``cityhub.store.access.AccessStore`` and imports no
backend and no HTTP; ``cityhub.api.guard`` applies it to every request and ``cityhub.cli``'s
``tenants`` and ``keys`` commands manage it.
"""
