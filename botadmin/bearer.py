"""RFC 6750 Bearer tokens: reading one from an `Authorization` header, and the challenge
of a 401 that refuses one (RFC 9110 section 11.6.1: a 401 says how to authenticate).

The API takes the bot's secret as a Bearer token (`botadmin.api.BotSecret`), the AI bot
gateway's send endpoint its own token (`connectors.aibot_gateway.SendEndpoint`): both
refuse alike, with RFC 6750's error code when a token was given and is wrong
(`invalid_token`) or given twice (`invalid_request`, HTTP 400).
"""

REALM = "botadmin"


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (the scheme in any
    case), or None without one; another scheme (`Basic`, a proxy's) is not ours to read."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_challenge(error: str = "") -> dict[str, str]:
    """The `WWW-Authenticate` header of an answer refusing a Bearer token."""
    challenge = f'Bearer realm="{REALM}"'
    return {"WWW-Authenticate": f'{challenge}, error="{error}"' if error else challenge}
