"""Delivery over HTTP: routes, content negotiation, headers, ProblemDetails rendering.

Owns: turning requests into calls on the store and services, and results into responses.
May import: everything below it. Never SQL.
"""
