"""OpenID Connect on plain requests: discovery, PKCE auth code, device grant, refresh.

Written by hand rather than with a library because the design card allows only requests,
platformdirs, kubernetes and the standard library at run time, and the flows are small.
"""
