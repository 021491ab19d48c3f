"""Certificates for TLS tests, made with the openssl command: a CA, and leaves it signs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A certificate authority in ``folder``, able to sign server and client certificates."""

    folder: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.folder / f"{self.name}-ca.crt"

    @property
    def key(self) -> Path:
        return self.folder / f"{self.name}-ca.key"

    @classmethod
    def create(cls, folder: Path, name: str = "test") -> Authority:
        ca = cls(folder, name)
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2",
            "-subj", f"/CN={name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return ca

    def issue(self, common_name: str, sans: str = "DNS:localhost,IP:127.0.0.1") -> Pair:
        """A leaf for both ends of a connection (server and client authentication)."""
        pair = Pair(self.folder / f"{common_name}.crt", self.folder / f"{common_name}.key")
        request = self.folder / f"{common_name}.csr"
        extensions = self.folder / f"{common_name}.ext"
        extensions.write_text(
            f"subjectAltName={sans}\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            "keyUsage=critical,digitalSignature\n"
        )
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(pair.key), "-out", str(request), "-subj", f"/CN={common_name}",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-CAcreateserial", "-days", "2", "-out", str(pair.cert),
            "-extfile", str(extensions),
        )  # fmt: skip
        return pair
