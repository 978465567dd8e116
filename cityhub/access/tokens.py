"""OAuth2/OIDC bearer tokens: JWTs checked against an issuer's JSON Web Key Set (RFC 7517,
7519), as Keycloak and other OIDC providers publish it (``jwks_uri``).

A token is accepted when its header names a key (``kid``) of the issuer's set, or the set has
one key; it is signed with that key by an asymmetric algorithm (RS*, PS*, ES*, EdDSA: never
``none`` nor an HMAC, which would let anyone who knows the public key sign); its ``iss`` is the
issuer's; its ``exp`` is in the future (``nbf`` and ``iat`` not in it) allowing
:data:`LEEWAY` seconds of clock skew; and, when an audience is configured, ``aud`` holds it.
PyJWT checks signature and claims; a token that passed is remembered (its claims, until it
expires and for :data:`PASSED_SECONDS` at most), so a client's repeated token costs a lookup,
not an RSA verification, per request. Key sets are cached per URL and fetched again for a key id
they lack, at most once per :data:`REFETCH_SECONDS`, so rotating keys at the issuer works and
a flood of forged key ids does not become a flood of fetches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson

from cityhub.errors import Unauthorized

#: signature algorithms accepted (asymmetric only)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
ALGORITHMS.append("EdDSA")
LEEWAY = 30
REFETCH_SECONDS = 30.0
MAX_JWKS_BYTES = 256 * 1024
MAX_TOKEN_BYTES = 16 * 1024
#: a token that passed is trusted again without its signature check for this long at most
PASSED_SECONDS = 60.0
MAX_PASSED = 10_000

Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True)
class Issuer:
    """An OIDC issuer as configured: its ``iss``, its key set's URL, the audience wanted."""

    issuer: str
    jwks_uri: str
    audience: str = ""


async def http_fetch(url: str) -> bytes:
    """GET a key set (5 s, at most :data:`MAX_JWKS_BYTES`)."""
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("the key set is too large")
            return body


class _KeySet:
    def __init__(self) -> None:
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at = -1e18
        self.lock = asyncio.Lock()


class TokenVerifier:
    """Checks bearer JWTs against issuers' key sets (see the module's docstring).

    Args:
        fetch: how a key set is read (tests serve one locally).
    """

    def __init__(self, fetch: Fetch = http_fetch) -> None:
        self.fetch = fetch
        self._sets: dict[str, _KeySet] = {}
        #: tokens that passed every check, by (token, issuer): (claims, until); a client
        #: sends the same token with each request, and an RSA check costs more than the rest
        #: of a retrieve-by-id
        self._passed: dict[tuple[str, Issuer], tuple[dict[str, Any], float]] = {}

    async def _refresh(self, url: str, entry: _KeySet) -> None:
        async with entry.lock:
            if time.monotonic() - entry.fetched_at < REFETCH_SECONDS:
                return
            entry.fetched_at = time.monotonic()
            try:
                doc = orjson.loads(await self.fetch(url))
                keys: dict[str, jwt.PyJWK] = {}
                for i, item in enumerate(doc.get("keys", [])):
                    try:
                        key = jwt.PyJWK(item)
                    except jwt.PyJWTError:
                        continue  # a key of a kind PyJWT cannot use: skip it, keep the rest
                    keys[str(item.get("kid", f"#{i}"))] = key
            except Exception:  # unreachable issuer, bad JSON: keep the keys we had
                return
            entry.keys = keys

    async def _key(self, issuer: Issuer, kid: str | None) -> jwt.PyJWK | None:
        entry = self._sets.setdefault(issuer.jwks_uri, _KeySet())
        for attempt in (0, 1):
            if kid is None and len(entry.keys) == 1:
                return next(iter(entry.keys.values()))
            if kid is not None and kid in entry.keys:
                return entry.keys[kid]
            if attempt == 0:
                await self._refresh(issuer.jwks_uri, entry)
        return None

    async def verify(self, token: str, issuer: Issuer) -> dict[str, Any]:
        """The token's claims, if it holds (see the module's docstring).

        Raises:
            Unauthorized: it does not; the detail says which check failed (never the token).
        """
        return (await self.verified(token, issuer))[0]

    async def verified(self, token: str, issuer: Issuer) -> tuple[dict[str, Any], float]:
        """The token's claims, if it holds, and until when (epoch seconds) this verification
        stands: its ``exp``, and at most PASSED_SECONDS after the signature was checked.

        Raises:
            Unauthorized: as :meth:`verify`.
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("the bearer token is longer than the hub reads")
        passed = self._passed.get((token, issuer))
        if passed is not None:
            if time.time() < passed[1]:
                return passed
            del self._passed[(token, issuer)]
        claims = await self._verify(token, issuer)
        if len(self._passed) >= MAX_PASSED:
            self._passed.clear()  # simple and bounded: the next requests check again
        # until it expires, and at most PASSED_SECONDS: a key the issuer withdraws stops
        # vouching for its tokens within that time
        until = min(float(claims["exp"]), time.time() + PASSED_SECONDS)
        self._passed[(token, issuer)] = (claims, until)
        return claims, until

    async def _verify(self, token: str, issuer: Issuer) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized(
                f"the token's algorithm {str(header.get('alg'))[:20]!r} is not accepted; "
                "tokens are signed with the issuer's public-key algorithms (RS256, ES256 ...)"
            )
        kid = header.get("kid")
        key = await self._key(issuer, kid if isinstance(kid, str) else None)
        if key is None:
            raise Unauthorized("the token is not signed by a key of the configured issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                issuer=issuer.issuer,
                audience=issuer.audience or None,
                leeway=LEEWAY,
                options={
                    "require": ["exp", "iss", "sub"],
                    "verify_aud": bool(issuer.audience),
                },
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token's issuer is not the one configured") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the token's audience is not this hub's") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token's signature does not hold") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("the token's sub claim is not text")
        return claims


__all__ = ["ALGORITHMS", "Issuer", "TokenVerifier", "http_fetch"]
