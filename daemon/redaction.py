"""Credentials written into URLs (`scheme://user:password@host`), hidden wherever text is shown.

Pure: the rules' error messages use it as well as the log redactor (daemon.logs).
"""

from __future__ import annotations

import re

HIDDEN = "***"
# scheme://user:password@ -- the password is whatever runs up to the last '@' of the
# authority (before any '/', '?', '#' or whitespace); a user without a password is kept.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://[^/\s:@?#]*):[^/\s?#]*@")


def hide_url_credentials(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` replaced by ***."""
    if "@" not in text:
        return text
    return _URL_CREDENTIALS.sub(rf"\1:{HIDDEN}@", text)
