"""The cluster's certificates (a CA, serving and client certificates, service-account keys)
and the admin kubeconfig, made with openssl."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import yaml

from .build import ClusterError


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate, the admin client certificate (group
    system:masters) and the service-account key pair; kept across restarts."""
    if all((pki / f).exists() for f in ("ca.crt", "apiserver.crt", "admin.crt", "sa.pub")):
        return
    pki.mkdir(parents=True, exist_ok=True)
    days = "3650"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
        "-subj", "/CN=pricewise-local-ca", "-keyout", pki / "ca.key", "-out", pki / "ca.crt",
    )  # fmt: skip
    sans = ",".join(
        [
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
            "IP:127.0.0.1",
            "IP:10.0.0.1",
        ]
    )
    (pki / "ext.cnf").write_text(
        "[server]\nsubjectAltName=" + sans + "\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "[client]\nextendedKeyUsage=clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    for name, subject, section in (
        ("apiserver", "/CN=kube-apiserver", "server"),
        ("admin", "/O=system:masters/CN=pricewise-admin", "client"),
    ):
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", pki / f"{name}.key", "-out", pki / f"{name}.csr",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", pki / f"{name}.csr", "-CA", pki / "ca.crt",
            "-CAkey", pki / "ca.key", "-CAcreateserial", "-days", days,
            "-extfile", pki / "ext.cnf", "-extensions", section, "-out", pki / f"{name}.crt",
        )  # fmt: skip
    _openssl("genrsa", "-out", pki / "sa.key", "2048")
    _openssl("rsa", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")


def _write_kubeconfig(path: Path, pki: Path, port: int) -> None:
    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "pricewise-local",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": data("ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": "pricewise-admin",
                "user": {
                    "client-certificate-data": data("admin.crt"),
                    "client-key-data": data("admin.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "pricewise-local",
                "context": {"cluster": "pricewise-local", "user": "pricewise-admin"},
            }
        ],
        "current-context": "pricewise-local",
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config))
    tmp.chmod(0o600)
    tmp.rename(path)
