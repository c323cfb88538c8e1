"""What happens to a message the simulator sends: per-integration outcomes and provider texts.

An outcome is `sent`, `never` (no message appears, as when Novu's job never runs or the
integration cannot be selected), or a failure class (`recipient`, `credentials`, `quota`,
`outage`): the message is `error` with the text that provider really gives for it, so the
daemon's classifier is exercised on realistic input.
"""

from __future__ import annotations

from typing import Literal, get_args

Outcome = Literal["sent", "never", "recipient", "credentials", "quota", "outage"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
ErrorClass = Literal["recipient", "credentials", "quota", "outage"]

# (errorId, errorText) per provider and class, as the providers' SDKs word them.
PROVIDER_ERRORS: dict[str, dict[str, tuple[str, str]]] = {
    "sendgrid": {
        "recipient": (
            "mail_unexpected_error",
            "Bad Request (400): Does not contain a valid address.",
        ),
        "credentials": (
            "mail_unexpected_error",
            "Unauthorized (401): The provided authorization grant is invalid, expired, or revoked",
        ),
        "quota": ("mail_unexpected_error", "Too Many Requests (429): too many requests"),
        "outage": ("mail_unexpected_error", "Service Unavailable (503)"),
    },
    "ses": {
        "recipient": (
            "mail_unexpected_error",
            "MessageRejected: Email address is not verified. The following identities failed "
            "the check in region EU-WEST-1",
        ),
        "credentials": (
            "mail_unexpected_error",
            "InvalidClientTokenId: The security token included in the request is invalid.",
        ),
        "quota": ("mail_unexpected_error", "Throttling: Maximum sending rate exceeded."),
        "outage": (
            "mail_unexpected_error",
            "ServiceUnavailable: Service is unavailable. Please try again later.",
        ),
    },
    "mailgun": {
        "recipient": (
            "mail_unexpected_error",
            "'to' parameter is not a valid address. please check documentation",
        ),
        "credentials": ("mail_unexpected_error", "Unauthorized: Forbidden"),
        "quota": ("mail_unexpected_error", "Too Many Requests: daily sending limit exceeded"),
        "outage": ("mail_unexpected_error", "502 Bad Gateway"),
    },
    "postmark": {
        "recipient": (
            "mail_unexpected_error",
            "You tried to send to recipient(s) that have been marked as inactive. (ErrorCode 406)",
        ),
        "credentials": (
            "mail_unexpected_error",
            "Request does not contain a valid Server token. (ErrorCode 10)",
        ),
        "quota": ("mail_unexpected_error", "Too Many Requests (429)"),
        "outage": ("mail_unexpected_error", "Internal Server Error (500)"),
    },
    "twilio": {
        "recipient": (
            "sms_unexpected_error",
            "The 'To' number +1555000 is not a valid phone number. (code 21211)",
        ),
        "credentials": ("sms_unexpected_error", "Authenticate (code 20003)"),
        "quota": ("sms_unexpected_error", "Too Many Requests (code 20429)"),
        "outage": ("sms_unexpected_error", "Service Unavailable (HTTP 503)"),
    },
    "nexmo": {
        "recipient": ("sms_unexpected_error", "Non White-listed Destination (status 29)"),
        "credentials": ("sms_unexpected_error", "Bad Credentials (status 4)"),
        "quota": ("sms_unexpected_error", "Throttled (status 1)"),
        "outage": ("sms_unexpected_error", "Internal Error (status 5)"),
    },
}
GENERIC_ERRORS: dict[str, tuple[str, str]] = {
    "recipient": ("unexpected_error", "invalid recipient address"),
    "credentials": ("unexpected_error", "401 Unauthorized: invalid API key"),
    "quota": ("unexpected_error", "429 Too Many Requests"),
    "outage": ("unexpected_error", "503 Service Unavailable"),
}


def provider_error(provider_id: str, failure_class: str) -> tuple[str, str]:
    """(errorId, errorText) of a failure of `failure_class` through `provider_id`."""
    errors = PROVIDER_ERRORS.get(provider_id, GENERIC_ERRORS)
    return errors.get(failure_class, GENERIC_ERRORS["outage"])


def check_outcome(value: object) -> Outcome:
    if value not in OUTCOMES:
        msg = f"outcome must be one of {', '.join(OUTCOMES)}; got {value!r}"
        raise ValueError(msg)
    outcome: Outcome = value  # type: ignore[assignment]
    return outcome
