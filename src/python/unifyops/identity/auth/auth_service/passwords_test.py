from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from unifyops.identity.auth.auth_service import passwords


class CountingHasher:
    """Stands in for argon2 to observe how many hashes run at once (argon2 itself is real in
    every other auth test)."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def _work(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1

    def hash(self, secret: str) -> str:
        self._work()
        return "hashed"

    def verify(self, secret_hash: str, secret: str) -> bool:
        self._work()
        return True


def test_only_one_hash_runs_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    with ThreadPoolExecutor(6) as pool:
        for _ in range(3):
            pool.submit(passwords.hash_secret, "a secret")
            pool.submit(passwords.verify_secret, "hashed", "a secret")
    assert hasher.most == 1


def test_real_hashes_verify() -> None:
    hashed = passwords.hash_secret("a long enough passphrase")
    assert passwords.verify_secret(hashed, "a long enough passphrase")
    assert not passwords.verify_secret(hashed, "another passphrase")
    assert not passwords.verify_secret(None, "a long enough passphrase")
