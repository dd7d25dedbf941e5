"""TLS with CA verification and client certificates, a password file and
least-privilege ACLs (the ones docs/security.md documents), against a real
Mosquitto with certificates the test makes itself."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.broker import Broker, Probe, free_port
from tests.integration.conftest import REPO, DaemonProcess, base_config

PASSWORD = "correct-horse-battery-staple"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path, name: str = "ca") -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN=edged test {name}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
        cwd=d,
    )
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={who}",
            "-keyout",
            f"{who}.key",
            "-out",
            f"{who}.csr",
            cwd=d,
        )
        (d / f"{who}.ext").write_text(ext + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            f"{name}.crt",
            "-CAkey",
            f"{name}.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{who}.crt",
            "-extfile",
            f"{who}.ext",
            cwd=d,
        )
    return {
        "ca": d / f"{name}.crt",
        "server": d / "server.crt",
        "server_key": d / "server.key",
        "client": d / "client.crt",
        "client_key": d / "client.key",
    }


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("secure")
    pki = make_pki(work / "pki")
    passwd = work / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwd), "edged", PASSWORD],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwd), "hub", "hub-password"],
        check=True,
        capture_output=True,
    )
    acl = work / "acl"
    acl.write_text(
        (REPO / "deploy" / "mosquitto" / "edged.acl").read_text()
        + "\nuser hub\ntopic readwrite #\n"
    )
    conf = (
        f"cafile {pki['ca']}\ncertfile {pki['server']}\nkeyfile {pki['server_key']}\n"
        "require_certificate true\n"
        f"password_file {passwd}\nacl_file {acl}\nallow_anonymous false\n"
    )
    broker = Broker(free_port(), work, conf).start()
    yield broker, pki, work
    broker.stop()


def hub(broker: Broker, pki: dict[str, Path]) -> Probe:
    return Probe(
        broker.port,
        ("edged/#", "cmnd/#", "home/#", "zigbee2mqtt/#"),
        username="hub",
        password="hub-password",
        tls={
            "ca_certs": str(pki["ca"]),
            "certfile": str(pki["client"]),
            "keyfile": str(pki["client_key"]),
        },
    ).connect()


def secure_config(
    broker: Broker,
    pki: dict[str, Path],
    work: Path,
    password: str = PASSWORD,
    ca: Path | None = None,
) -> dict:
    pw = work / f"pw-{time.monotonic_ns()}"
    pw.write_text(password + "\n")
    cfg = base_config(broker.port)
    cfg["mqtt"].update(
        username="edged",
        password_file=str(pw),
        tls={
            "ca_file": str(ca or pki["ca"]),
            "cert_file": str(pki["client"]),
            "key_file": str(pki["client_key"]),
        },
        client_id=f"edged-secure-{time.monotonic_ns()}",
    )
    return cfg


def test_tls_password_and_acl_work_together(secure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker, pki, work = secure
    d = DaemonProcess(secure_config(broker, pki, work), tmp_path).start()
    p = hub(broker, pki)
    try:
        d.wait_online(p)
        p.publish(
            "edged/utterance", json.dumps({"text": "turn on the reading lamp", "id": "tls-1"})
        )
        assert p.wait_for(lambda m: m.topic == "cmnd/reading_lamp/POWER")[0].payload == b"ON"
        r = json.loads(p.wait_for(lambda m: m.topic == "edged/result")[0].payload)
        assert r["id"] == "tls-1" and r["status"] == "executed"
        assert PASSWORD not in d.output()
    finally:
        p.close()
        d.stop()


def test_acl_keeps_edged_to_its_topics(secure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reply_to outside the ACL is not delivered: the broker enforces what
    edged may write, whatever a payload asks for."""
    broker, pki, work = secure
    d = DaemonProcess(secure_config(broker, pki, work), tmp_path).start()
    p = hub(broker, pki)
    try:
        d.wait_online(p)
        p.publish(
            "edged/utterance",
            json.dumps(
                {"text": "turn on the reading lamp", "id": "acl-1", "reply_to": "elsewhere/x"}
            ),
        )
        time.sleep(1.5)
        assert not [m for m in p.messages if m.topic.startswith("elsewhere")]
        assert d.proc is not None and d.proc.poll() is None
    finally:
        p.close()
        d.stop()


def test_wrong_password_is_a_clear_message(secure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker, pki, work = secure
    d = DaemonProcess(secure_config(broker, pki, work, password="wrong"), tmp_path).start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "credentials" not in d.output():
            time.sleep(0.2)
        out = d.output()
        assert "refused the credentials" in out, out[-2000:]
        assert "wrong" not in out.replace("wrong password", "")
        assert "online:" not in out
    finally:
        d.stop()


def test_untrusted_certificate_is_a_clear_message(secure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker, pki, work = secure
    other = make_pki(work / "other-pki", name="other")
    d = DaemonProcess(secure_config(broker, pki, work, ca=other["ca"]), tmp_path).start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "TLS failed" not in d.output():
            time.sleep(0.2)
        out = d.output()
        assert "TLS failed" in out and "ca_file" in out, out[-2000:]
        assert "online:" not in out
    finally:
        d.stop()
