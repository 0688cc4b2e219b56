"""The committed SealedSecrets match what the chart references and the environment's certificate.

If a chart change references a Secret nobody sealed, this fails until `uo seal --env <env>` is run
and its output committed, so a sync never waits on a Secret that does not exist.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from unifyops_core.naming import ENVIRONMENTS, STACKS, namespace
from uo.sealed_secrets import (
    CERTIFICATE_FILE,
    SEALED_TO,
    load_certificate,
    read_sealed,
    references,
    rendered_environment,
)
from uo.sealing import fingerprint

ROOT = Path.cwd()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_an_rsa_controller_certificate(environment: str) -> None:
    pem = (ROOT / f"infra/environments/{environment}/{CERTIFICATE_FILE}").read_bytes()
    assert b"PRIVATE KEY" not in pem
    certificate = x509.load_pem_x509_certificate(pem)
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size >= 2048


def test_environments_have_their_own_certificates() -> None:
    prints = {fingerprint(load_certificate(ROOT, env)) for env in ENVIRONMENTS}
    assert len(prints) == len(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_referenced_secret_is_sealed_to_the_environments_certificate(
    environment: str,
) -> None:
    key = load_certificate(ROOT, environment)
    refs = references(rendered_environment(ROOT, environment))
    sealed = read_sealed(ROOT, environment)
    assert refs, "the chart references at least the database credentials"
    assert set(sealed) == {ref.name for ref in refs}, f"run: uo seal --env {environment}"
    for ref in refs:
        doc = sealed[ref.name]
        assert doc["apiVersion"] == "bitnami.com/v1alpha1"
        assert doc["metadata"]["namespace"] == namespace(environment)
        template = doc["spec"]["template"]["metadata"]
        assert (template["name"], template["namespace"]) == (ref.name, namespace(environment))
        assert set(doc["spec"]["encryptedData"]) == ref.keys, f"run: uo seal --env {environment}"
        assert doc["metadata"]["annotations"][SEALED_TO] == fingerprint(key)
        for value in doc["spec"]["encryptedData"].values():
            raw = base64.b64decode(value, validate=True)
            # kubeseal's framing: the RSA ciphertext is as long as the controller's modulus.
            assert int.from_bytes(raw[:2], "big") == key.key_size // 8
            assert len(raw) > 2 + key.key_size // 8 + 16


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_secret_sits_in_the_file_of_its_owning_stack(environment: str) -> None:
    refs = {ref.name: ref for ref in references(rendered_environment(ROOT, environment))}
    folder = ROOT / f"infra/environments/{environment}/sealed"
    for file in folder.glob("*.yaml"):
        assert file.stem in STACKS
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                assert refs[doc["metadata"]["name"]].owner == file.stem
