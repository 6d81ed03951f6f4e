"""The plugin's exceptions. Modules only raise these; `cli.run` alone turns them into text.

    ScipianError                      message printed as is, exit 1
    ├── ArgumentError                 the plugin's own command line is wrong (exit 2); the
    │                                 read verbs' kubectl flags have read/errors.py's words
    ├── UsageError                    one line, exit 2 (e.g. a deploy credential without --reason)
    ├── ConfigError                   no/bad backend URL, plain http:// to a remote host, bad CA
    ├── AuthError                     "Invalid authentication for provided environment."
    │   ├── LoginRequired             ... plus a hint: no terminal and nothing to refresh
    │   │   └── FreshLoginRequired    ... a deploy credential's step-up, with no terminal
    │   ├── FreshLoginUnprovable      ... plus a hint: the provider cannot show a fresh login
    │   ├── PromotionRequired         a deploy credential refused on a gated environment (403
    │   │                             PromotionRequired): `helm rollback` becomes a promotion
    │   └── StepUpRequired            the backend's RFC 9470 challenge (max_age); caught by
    │                                 access/credentials.py, which logs in afresh once
    ├── EnvNotFound                   "Invalid environment referenced."
    ├── LoginError                    a login flow failed (timeout, denied, state/nonce mismatch)
    ├── IdpError                      the OIDC provider is unreachable or answered nonsense
    ├── BackendError                  the backend failed (5xx, bad answer, 400)
    │   └── BackendUnreachable        no connection to the backend
    ├── Refused                       the backend refused a promotion call (a gate, a conflict):
    │                                 "error: <its message>"
    ├── ServerRefused                 a promotion read refused or not found, in kubectl's words:
    │                                 "Error from server (Forbidden): <its message>"
    ├── CacheLockTimeout              another invocation held a cache lock for too long
    ├── CacheUnwritable               the cache directory is read-only, full or not ours
    └── ClusterUnauthorized           the cluster answered 401 (raised by `read`; triggers one
                                      refetch of the kubeconfig, never shown as such)

Messages never contain a token: HTTP bodies are reduced to their `reason`/`error` fields.
"""

from __future__ import annotations

AUTH_MESSAGE = "Invalid authentication for provided environment."
ENV_MESSAGE = "Invalid environment referenced."
LOGIN_HINT = "run 'kubectl scipian login'"
# The one line after the RFC's when the backend's 403 carries `requestable` (change.md §9).
REQUEST_HINT = "ask for access: kubectl scipian {env} request {level} --for 1h --reason TEXT"
KUBECTL_UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)"


class ScipianError(Exception):
    """Base of every error the plugin reports; `str()` is the line printed on stderr."""

    exit_code = 1


class ArgumentError(ScipianError):
    """argparse's usage and message for the plugin's own arguments."""

    exit_code = 2


class UsageError(ScipianError):
    """A command line that cannot work, said in one line (no usage text), exit 2."""

    exit_code = 2


class ConfigError(ScipianError):
    pass


class ToolMissing(ScipianError):
    """A program a command runs (helm) is missing or too old: one line, exit 1."""


class AuthError(ScipianError):
    """The RFC's authentication error; the detail is kept for `-v` only. A `hint`, when set,
    is printed as a second line (`hint: ...`). `requestable` ("read"|"deploy"): the
    backend's 403 says the caller may ask for that access (change.md §9)."""

    hint = ""
    requestable = ""

    def __init__(self, detail: str = "") -> None:
        super().__init__(AUTH_MESSAGE)
        self.detail = detail


class LoginRequired(AuthError):
    """No usable login and no terminal to get one: fail at once, with a hint."""

    hint = LOGIN_HINT


class FreshLoginRequired(LoginRequired):
    """A deploy credential needs a login no older than `max_age` seconds and there is no
    terminal to log in on: the RFC's line, a hint, exit 1, and no prompt."""

    def __init__(self, max_age: int, detail: str = "") -> None:
        super().__init__(detail)
        self.hint = (
            f"deploy credentials need a login no older than {max_age}s: "
            "run 'kubectl scipian login', then this command again"
        )


class FreshLoginUnprovable(AuthError):
    """A deploy credential needs a login no older than `max_age` seconds and the provider's
    id_token cannot show one (no `auth_time`, or `max_age` ignored): another login would
    not help, so the RFC's line and a hint that says why, exit 1 (docs/providers.md)."""

    def __init__(self, max_age: int, problem: str, detail: str = "") -> None:
        super().__init__(detail or problem)
        self.hint = (
            f"deploy credentials need a login no older than {max_age}s and the identity "
            f"provider does not show one: {problem}; ask your Scipian admin"
        )


class StepUpRequired(AuthError):
    """The backend's step-up challenge (RFC 9470): log in again with `max_age`."""

    def __init__(self, max_age: int, detail: str = "") -> None:
        super().__init__(detail)
        self.max_age = max_age


class PromotionRequired(AuthError):
    """The backend's 403 `PromotionRequired`: the environment is gated, so no plain deploy
    credential (change.md §2). Shown as the RFC's line; `helm rollback` takes the
    promotion path on it (helm/rollback.py)."""


class EnvNotFound(ScipianError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(ENV_MESSAGE)
        self.detail = detail


class LoginError(ScipianError):
    pass


class IdpError(ScipianError):
    pass


class BackendError(ScipianError):
    pass


class BackendUnreachable(BackendError):
    pass


class Refused(ScipianError):
    """The backend's own one-line refusal (a promotion's gate, a conflict, a bad request)."""


class ServerRefused(ScipianError):
    """kubectl's `Error from server (REASON): MESSAGE` for a promotion read, printed as is."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"Error from server ({reason}): {message}")


class CacheLockTimeout(ScipianError):
    pass


class CacheUnwritable(ScipianError):
    pass


class ClusterUnauthorized(ScipianError):
    """The cluster rejected the kubeconfig's token (HTTP 401) before anything was printed.

    Raised by `read` as ``ClusterUnauthorized(env_id)``; shown (after the one refetch also
    failed) in kubectl's own words.
    """

    def __init__(self, env_id: str = "", message: str = KUBECTL_UNAUTHORIZED) -> None:
        super().__init__(message)
        self.env_id = env_id
