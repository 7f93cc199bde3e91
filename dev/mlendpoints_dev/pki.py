"""Certificates and keys for the local control plane, made with ``cryptography`` (no openssl CLI).

Why each piece exists:

* one CA signs everything and is both the apiserver's ``--client-ca-file`` and the clients'
  ``certificate-authority``, so a kubeconfig needs exactly one trust root;
* the apiserver's serving cert names ``localhost``/``127.0.0.1`` (how we dial it) and the
  in-cluster names and service IP ``10.0.0.1`` (first address of ``--service-cluster-ip-range``),
  so TLS verification works from the host and for anything that uses the in-cluster names;
* client certs carry the identity in the subject: ``CN`` is the user, ``O`` the group. The admin
  is in ``system:masters``; kube-controller-manager and kube-scheduler get their own users, which
  the RBAC bootstrap policy already binds, so their permissions are the real ones; kwok is an
  admin under its own name so the audit log tells its writes apart;
* the service-account key pair signs and verifies ServiceAccount tokens (TokenRequest works, and
  kube-controller-manager runs each controller under its own ServiceAccount).

ECDSA P-256 keys keep generation instant on a 2-core machine; the SA key is RSA-2048 because
RS256 is what every OIDC/JWT consumer accepts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: DNS names the apiserver's serving certificate is valid for.
APISERVER_DNS_SANS: tuple[str, ...] = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
#: IP addresses the apiserver's serving certificate is valid for (loopback and the service IP).
APISERVER_IP_SANS: tuple[str, ...] = ("127.0.0.1", "10.0.0.1")

#: Client identities: file stem -> (CN, groups).
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("kubernetes-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    "kwok": ("kwok-controller", ("system:masters",)),
    # The apiserver's identity towards aggregated API servers (--proxy-client-cert-file); its CN
    # is the only name --requestheader-allowed-names accepts.
    "front-proxy-client": ("front-proxy-client", ()),
    # The apiserver's identity towards kubelets (--kubelet-client-certificate): the process nodes'
    # agent accepts any client cert of the cluster CA on its /containerLogs endpoint.
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
    # The process nodes' agent (registers Nodes, writes pod status, reads Secrets).
    "nodeagent": ("mlendpoints-nodeagent", ("system:masters",)),
}

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class PKI:
    """Paths of every credential of one cluster (all PEM)."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    sa_key: Path
    sa_pub: Path
    clients: dict[str, ClientCert]

    def client(self, name: str) -> ClientCert:
        """The client cert named ``name`` (a key of :data:`CLIENTS`, or one made by :func:`issue_client`)."""
        return self.clients[name]


def _now() -> dt.datetime:
    # Back-date a little so a freshly made cert is valid even with small clock differences.
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ec.EllipticCurvePrivateKey)
        # kube-apiserver reads PKCS#1 and PKCS#8 RSA keys alike; PKCS#1 is what openssl genrsa writes.
        else serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def _name(cn: str, orgs: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _make_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _ec_key()
    name = _name("mlendpoints-devcluster-ca")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _sign_leaf(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _paths(directory: Path) -> PKI:
    clients = {name: ClientCert(directory / f"{name}.crt", directory / f"{name}.key") for name in CLIENTS}
    return PKI(
        dir=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt",
        apiserver_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
        clients=clients,
    )


def issue_client(pki: PKI, stem: str, user: str, groups: Sequence[str] = ()) -> ClientCert:
    """Sign a new client certificate (user ``CN=user``, groups as ``O=``) with the cluster's CA.

    Tests use this to give a component its own identity, e.g. to count the operator's writes in
    the audit log by ``user.username``.
    """
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = _load_key(pki.ca_key)
    key = _ec_key()
    cert = _sign_leaf(ca_cert, ca_key, _name(user, groups), key, ExtendedKeyUsageOID.CLIENT_AUTH)
    out = ClientCert(pki.dir / f"{stem}.crt", pki.dir / f"{stem}.key")
    _write_key(out.key, key)
    _write_cert(out.cert, cert)
    pki.clients[stem] = out
    return out


def ensure_pki(directory: Path) -> PKI:
    """Create the credentials under ``directory``, keeping any that already exist.

    Reuse matters for ``up`` after a reboot: the etcd data still holds ServiceAccount tokens and
    kube-root-ca.crt ConfigMaps made with the old CA and SA key. Only missing pieces are made
    (signed by the existing CA), so adding a client identity does not invalidate a cluster.
    """
    pki = _paths(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)

    if pki.ca_cert.is_file() and pki.ca_key.is_file():
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        ca_key = _load_key(pki.ca_key)
    else:
        ca_cert, ca_key = _make_ca()
        _write_key(pki.ca_key, ca_key)
        _write_cert(pki.ca_cert, ca_cert)
        # Everything signed by a previous CA is now useless: re-issue it all.
        for stale in directory.glob("*.crt"):
            if stale != pki.ca_cert:
                stale.unlink()

    if not (pki.apiserver_cert.is_file() and pki.apiserver_key.is_file()):
        _issue_apiserver(pki, ca_cert, ca_key, APISERVER_IP_SANS)

    for stem, (user, groups) in CLIENTS.items():
        cc = pki.clients[stem]
        if cc.cert.is_file() and cc.key.is_file():
            continue
        key = _ec_key()
        cert = _sign_leaf(ca_cert, ca_key, _name(user, groups), key, ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_key(cc.key, key)
        _write_cert(cc.cert, cert)

    if not (pki.sa_key.is_file() and pki.sa_pub.is_file()):
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(pki.sa_key, sa)
        pki.sa_pub.write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki


def _issue_apiserver(pki: PKI, ca_cert: x509.Certificate, ca_key: PrivateKey, ips: Sequence[str]) -> None:
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in APISERVER_DNS_SANS]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    key = _ec_key()
    cert = _sign_leaf(ca_cert, ca_key, _name("kube-apiserver"), key, ExtendedKeyUsageOID.SERVER_AUTH, sans)
    _write_key(pki.apiserver_key, key)
    _write_cert(pki.apiserver_cert, cert)


def apiserver_ips(pki: PKI) -> list[str]:
    """The IP addresses the API server's serving certificate names (``[]`` if there is none)."""
    if not pki.apiserver_cert.is_file():
        return []
    cert = x509.load_pem_x509_certificate(pki.apiserver_cert.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]


def ensure_apiserver_ips(pki: PKI, extra: Sequence[str]) -> bool:
    """Make the API server's serving certificate also name ``extra`` (e.g. the process nodes'
    addresses, where pods reach the API server); re-issued only when one is missing.

    Call before starting kube-apiserver. Returns True when it re-issued the certificate.
    """
    wanted = list(dict.fromkeys([*APISERVER_IP_SANS, *extra]))
    if set(wanted) <= set(apiserver_ips(pki)):
        return False
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    _issue_apiserver(pki, ca_cert, _load_key(pki.ca_key), wanted)
    return True


def issue_server(pki: PKI, stem: str, *, ips: Sequence[str] = (), dns: Sequence[str] = ()) -> ClientCert:
    """Sign a serving certificate for ``ips``/``dns`` with the cluster CA (``<stem>.crt``/``.key``).

    Re-issued on every call (cheap), so a server that moved to another address gets a matching
    certificate. Clients verify it against ``ca.crt``.
    """
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = _load_key(pki.ca_key)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    key = _ec_key()
    cert = _sign_leaf(ca_cert, ca_key, _name(stem), key, ExtendedKeyUsageOID.SERVER_AUTH, sans)
    out = ClientCert(pki.dir / f"{stem}.crt", pki.dir / f"{stem}.key")
    _write_key(out.key, key)
    _write_cert(out.cert, cert)
    return out
