"""uo seal's planning and files, on the chart of this checkout rendered for an environment: it
references the whole secrets contract (database credentials, every gateway's client secret, which
auth's registration Jobs read too, and auth-service's key-encryption key)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from unifyops_core.naming import STACKS
from uo.render import Manifest
from uo.sealed_secrets import (
    SEALED_TO,
    Request,
    SealError,
    plan,
    read_sealed,
    references,
    rendered_environment,
    seal_environment,
    secret_keys,
)
from uo.sealing import load_public_key
from uo.sealing_testutil import Controller

ROOT = Path.cwd()
CONTROLLER = Controller.generate()
KEY = load_public_key(CONTROLLER.certificate_pem)
RENDERED = rendered_environment(ROOT, "dev")
CONTRACT = {
    "auth-key-encryption": {"key"},
    **{f"{s}-db-credentials": {"username", "password", "database"} for s in STACKS},
    **{f"{s}-api-client": {"client-secret"} for s in STACKS},
}


def unseal_all(files: dict[str, list[Manifest]]) -> dict[str, dict[str, str]]:
    values = {}
    for docs in files.values():
        for doc in docs:
            name, ns = doc["metadata"]["name"], doc["metadata"]["namespace"]
            values[name] = {
                key: CONTROLLER.unseal(value, namespace=ns, name=name).decode()
                for key, value in doc["spec"]["encryptedData"].items()
            }
    return values


def ciphertexts(files: dict[str, list[Manifest]]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: d["spec"]["encryptedData"] for docs in files.values() for d in docs
    }


def as_existing(files: dict[str, list[Manifest]]) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for docs in files.values() for d in docs}


def test_references_are_every_secret_key_ref_of_the_rendered_chart() -> None:
    refs = {ref.name: ref for ref in references(RENDERED)}
    assert {name: set(ref.keys) for name, ref in refs.items()} == CONTRACT
    # Owned by the first stack in rollout order that reads it: auth registers every client.
    assert refs["user-api-client"].stacks == ("auth", "user")
    assert refs["user-api-client"].owner == "auth"
    assert refs["user-db-credentials"].owner == "user"
    assert refs["auth-key-encryption"].owner == "auth"


def test_tls_secrets_are_left_to_cert_manager_and_every_workload_kind_counts() -> None:
    def pod(*refs: tuple[str, str]) -> dict[str, Any]:
        env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": n, "key": k}}} for n, k in refs]
        return {"containers": [{"name": "c", "env": env}]}

    objects = [
        {"kind": "Deployment", "spec": {"template": {"spec": pod(("a", "1"))}}},
        {
            "kind": "StatefulSet",
            "spec": {"template": {"spec": {"initContainers": pod(("b", "2"))["containers"]}}},
        },
        {"kind": "Job", "spec": {"template": {"spec": pod(("a", "3"))}}},
        {
            "kind": "CronJob",
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(("c", "4"))}}}},
        },
        {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {
                        "containers": [],
                        "volumes": [
                            {
                                "name": "v",
                                "secret": {"secretName": "d", "items": [{"key": "5", "path": "p"}]},
                            },
                            {
                                "name": "t",
                                "secret": {
                                    "secretName": "tls-cert",
                                    "items": [{"key": "tls.crt", "path": "c"}],
                                },
                            },
                        ],
                    }
                }
            },
        },
        {"kind": "Ingress", "spec": {"tls": [{"secretName": "tls-cert", "hosts": ["h"]}]}},
        {"kind": "Service", "spec": {}},
    ]
    assert secret_keys(objects) == {"a": {"1", "3"}, "b": {"2"}, "c": {"4"}, "d": {"5"}}


def test_first_run_generates_every_secret_in_the_expected_format() -> None:
    files, changes = plan(references(RENDERED), {}, Request("dev"), KEY)
    assert {c.name: c.action for c in changes} == dict.fromkeys(CONTRACT, "created")
    values = unseal_all(files)
    for stack in STACKS:
        db = values[f"{stack}-db-credentials"]
        assert (db["username"], db["database"]) == (stack, stack)
        assert len(db["password"]) >= 32
        assert len(values[f"{stack}-api-client"]["client-secret"]) >= 32
    Fernet(values["auth-key-encryption"]["key"].encode())  # what auth-service needs
    assert len({v["client-secret"] for k, v in values.items() if k.endswith("-api-client")}) == len(
        STACKS
    )


def test_manifests_are_sealed_secrets_in_the_environment_namespace() -> None:
    files, _ = plan(references(RENDERED), {}, Request("staging"), KEY)
    assert set(files) == set(STACKS)
    for stack, docs in files.items():
        for doc in docs:
            assert doc["apiVersion"] == "bitnami.com/v1alpha1"
            assert doc["kind"] == "SealedSecret"
            meta, template = doc["metadata"], doc["spec"]["template"]
            assert meta["namespace"] == template["metadata"]["namespace"] == "uo-staging"
            assert meta["name"] == template["metadata"]["name"]
            assert template["metadata"]["labels"]["unifyops.io/stack"] == stack
            assert meta["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"


def test_a_second_run_keeps_every_ciphertext() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    second, changes = plan(references(RENDERED), as_existing(first), Request("dev"), KEY)
    assert {c.action for c in changes} == {"kept"}
    assert ciphertexts(second) == ciphertexts(first)


def test_rotate_changes_every_generated_value() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    rotated, changes = plan(
        references(RENDERED), as_existing(first), Request("dev", rotate=True), KEY
    )
    assert {c.action for c in changes} == {"rotated"}
    assert all(c.warning and "change them wherever they are held" in c.warning for c in changes)
    before, after = unseal_all(first), unseal_all(rotated)
    for name in CONTRACT:
        for key, value in after[name].items():
            if key in ("username", "database"):
                assert value == before[name][key]
            else:
                assert value != before[name][key]


def test_rotate_one_secret_leaves_the_others_byte_for_byte() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    request = Request("dev", secret="user-api-client", rotate=True)
    rotated, changes = plan(references(RENDERED), as_existing(first), request, KEY)
    assert [(c.name, c.action) for c in changes] == [("user-api-client", "rotated")]
    old, new = ciphertexts(first), ciphertexts(rotated)
    assert new.pop("user-api-client") != old.pop("user-api-client")
    assert new == old


def test_a_new_key_in_the_chart_is_added_and_the_others_kept() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    existing = as_existing(first)
    del existing["auth-db-credentials"]["spec"]["encryptedData"]["password"]
    updated, changes = plan(references(RENDERED), existing, Request("dev"), KEY)
    assert ("auth-db-credentials", "updated", ("password",)) in [
        (c.name, c.action, c.keys) for c in changes
    ]
    assert unseal_all(updated)["auth-db-credentials"]["username"] == "auth"


def test_a_secret_sealed_by_hand_without_the_annotation_is_kept_as_it_is() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    existing = as_existing(first)
    del existing["user-api-client"]["metadata"]["annotations"][SEALED_TO]
    kept, changes = plan(references(RENDERED), existing, Request("dev"), KEY)
    assert not any(c.warning for c in changes)
    assert SEALED_TO not in as_existing(kept)["user-api-client"]["metadata"]["annotations"]
    assert ciphertexts(kept) == ciphertexts(first)


def test_operator_supplied_values() -> None:
    request = Request("dev", secret="auth-key-encryption", literals={"key": "supplied"})
    files, _ = plan(references(RENDERED), {}, request, KEY)
    # Only the named Secret is written when a run names one.
    assert set(ciphertexts(files)) == {"auth-key-encryption"}
    assert unseal_all(files)["auth-key-encryption"] == {"key": "supplied"}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request("dev", secret="nope"), "references no Secret 'nope'"),
        (Request("dev", secret="auth-api-client", literals={"nokey": "x"}), "has no key 'nokey'"),
    ],
)
def test_requests_outside_the_chart_are_refused(request_: Request, message: str) -> None:
    with pytest.raises(SealError, match=message):
        plan(references(RENDERED), {}, request_, KEY)


def test_literals_need_a_secret() -> None:
    with pytest.raises(SealError, match="needs --secret"):
        Request("dev", literals={"key": "x"})


def test_a_secret_outside_the_contract_gets_a_random_value_or_the_operators() -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "smtp", "key": "token"}}}]
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"env": env}]}}}}
    objects = {"user": [*RENDERED["user"], job]}
    files, _ = plan(references(objects), {}, Request("dev"), KEY)
    assert len(unseal_all(files)["smtp"]["token"]) >= 32
    request = Request("dev", secret="smtp", literals={"token": "t"})
    files, _ = plan(references(objects), as_existing(files), request, KEY)
    assert unseal_all(files)["smtp"] == {"token": "t"}


def test_a_new_certificate_keeps_old_ciphertexts_with_a_warning_and_rotation_moves_them() -> None:
    first, _ = plan(references(RENDERED), {}, Request("dev"), KEY)
    new_controller = Controller.generate()
    new_key = load_public_key(new_controller.certificate_pem)
    kept, changes = plan(references(RENDERED), as_existing(first), Request("dev"), new_key)
    assert all(
        c.action == "kept" and c.warning and "decrypts only while the controller keeps" in c.warning
        for c in changes
    )
    assert ciphertexts(kept) == ciphertexts(first)
    existing = as_existing(first)
    del existing["auth-db-credentials"]["spec"]["encryptedData"]["password"]
    with pytest.raises(SealError, match="--secret auth-db-credentials --rotate"):
        plan(references(RENDERED), existing, Request("dev"), new_key)
    rotated, _ = plan(references(RENDERED), existing, Request("dev", rotate=True), new_key)
    doc = as_existing(rotated)["auth-db-credentials"]
    assert (
        doc["metadata"]["annotations"][SEALED_TO]
        != first["auth"][0]["metadata"]["annotations"][SEALED_TO]
    )
    value = doc["spec"]["encryptedData"]["username"]
    assert new_controller.unseal(value, namespace="uo-dev", name="auth-db-credentials") == b"auth"


def test_files_are_written_per_owner_without_plaintext_and_unreferenced_ones_go(
    tmp_path: Path,
) -> None:
    for folder in ("src/charts", "infra/environments"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.rmtree(tmp_path / "infra/environments/dev/sealed", ignore_errors=True)
    (tmp_path / "infra/environments/dev/sealed-secrets-cert.pem").write_bytes(
        CONTROLLER.certificate_pem
    )
    objects = rendered_environment(tmp_path, "dev")
    changes, written = seal_environment(tmp_path, Request("dev"), objects)
    sealed_dir = tmp_path / "infra/environments/dev/sealed"
    assert sorted(p.name for p in written) == ["auth.yaml", "environment.yaml", "user.yaml"]
    text = "".join(p.read_text() for p in sealed_dir.iterdir())
    files = {
        p.stem: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sealed_dir.glob("*.yaml")
    }
    for secret in unseal_all(files).values():
        for value in secret.values():
            if len(value) > 12:  # stack names are public; generated values never appear
                assert value not in text
    assert not list(sealed_dir.glob(".*"))  # no temporary files left behind
    # Unchanged: nothing is rewritten.
    assert seal_environment(tmp_path, Request("dev"), objects)[1] == []
    # Nothing reads the environment gateway's client secret any more: it is removed.
    objects["environment"] = [o for o in objects["environment"] if o["kind"] != "Deployment"]
    objects["auth"] = [
        o
        for o in objects["auth"]
        if o["metadata"].get("labels", {}).get("unifyops.io/client") != "environment"
    ]
    changes, _ = seal_environment(tmp_path, Request("dev"), objects)
    assert ("environment-api-client", "removed") in [(c.name, c.action) for c in changes]
    assert "environment-api-client" not in read_sealed(tmp_path, "dev")
