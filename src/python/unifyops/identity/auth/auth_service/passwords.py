"""Password and secret hashing with argon2id, and a failure path that takes as long as success."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# argon2id's defaults take 64 MiB per hash. Callers hash in worker threads (so the event loop keeps
# serving), and the chart gives a service 256 MiB: a few concurrent sign-ins would otherwise get
# the process OOM-killed (seen in e2e under four parallel sign-ins). One hash at a time per
# process; the sign-in limits keep the queue short.
_ONE_HASH_AT_A_TIME = threading.BoundedSemaphore(1)
# Verified against when the account does not exist, so "no such user" costs what "wrong password"
# costs and response times do not reveal which emails are registered.
_DUMMY_HASH = _hasher.hash("unifyops-dummy-password-for-timing")


def hash_secret(secret: str) -> str:
    with _ONE_HASH_AT_A_TIME:
        return _hasher.hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    try:
        with _ONE_HASH_AT_A_TIME:
            verified = _hasher.verify(secret_hash or _DUMMY_HASH, secret)
        return verified and secret_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
