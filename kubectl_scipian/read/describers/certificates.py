"""CertificateSigningRequest, with the little of X.509 it prints read from the request's DER.

Only the standard library may be used at run time, and describe needs just the subject and
the subject alternative names, so the request is read with a small DER walker.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import TYPE_CHECKING, NamedTuple

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import Obj, format_labels, rfc1123z
from kubectl_scipian.read.errors import ReadError
from kubectl_scipian.read.humanize import human_duration

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

# pkix.Name.FillFromRDNSequence: 2.5.4.N -> field
SUBJECT_ONE = {3: "Common Name", 5: "Serial Number"}
SUBJECT_MANY = {
    10: "Organization",
    11: "Organizational Unit",
    6: "Country",
    7: "Locality",
    8: "Province",
    9: "StreetAddress",
    17: "PostalCode",
}
EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
SUBJECT_ALT_NAME = "2.5.29.17"


class Tlv(NamedTuple):
    tag: int
    body: bytes


def _tlvs(data: bytes) -> list[Tlv]:
    """The DER elements laid one after another in `data`."""
    out: list[Tlv] = []
    i = 0
    while i < len(data):
        tag = data[i]
        length = data[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            raise ValueError("truncated DER")
        out.append(Tlv(tag, data[i : i + length]))
        i += length
    return out


def _oid(body: bytes) -> str:
    parts = [body[0] // 40, body[0] % 40]
    value = 0
    for b in body[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _string(t: Tlv) -> str | None:
    if t.tag == 0x1E:  # BMPString
        return t.body.decode("utf-16-be")
    if t.tag in (0x0C, 0x13, 0x16, 0x14):  # UTF8, Printable, IA5, T61
        return t.body.decode("utf-8" if t.tag == 0x0C else "latin-1")
    return None


class Request(NamedTuple):
    subject: dict[str, list[str]]
    sans: dict[str, list[str]]


def parse_request(pem: str) -> Request:
    """certificate.ParseCSR: the PEM block, then the subject and the SAN extension."""
    lines = pem.strip().splitlines()
    begin = lines.index("-----BEGIN CERTIFICATE REQUEST-----")
    end = lines.index("-----END CERTIFICATE REQUEST-----")
    der = base64.b64decode("".join(lines[begin + 1 : end]))
    info = _tlvs(_tlvs(_tlvs(der)[0].body)[0].body)
    subject: dict[str, list[str]] = {}
    for rdn in _tlvs(info[1].body):
        for atv in _tlvs(rdn.body):
            oid_t, value_t = _tlvs(atv.body)[:2]
            oid, value = _oid(oid_t.body), _string(value_t)
            if value is None or not oid.startswith("2.5.4.") or oid.count(".") != 3:
                continue
            n = int(oid.rsplit(".", 1)[1])
            if n in SUBJECT_ONE:
                subject[SUBJECT_ONE[n]] = [value]
            elif n in SUBJECT_MANY:
                subject.setdefault(SUBJECT_MANY[n], []).append(value)
    sans: dict[str, list[str]] = {}
    attributes = [t for t in info[3:] if t.tag == 0xA0]
    for attr in _tlvs(attributes[0].body) if attributes else []:
        oid_t, values = _tlvs(attr.body)[:2]
        if _oid(oid_t.body) != EXTENSION_REQUEST:
            continue
        for ext in _tlvs(_tlvs(values.body)[0].body):
            parts = _tlvs(ext.body)
            if _oid(parts[0].body) == SUBJECT_ALT_NAME:
                _alt_names(parts[-1].body, sans)
    return Request(subject, sans)


def _alt_names(octets: bytes, sans: dict[str, list[str]]) -> None:
    for name in _tlvs(_tlvs(octets)[0].body):
        kind = name.tag & 0x1F
        if kind == 2:
            sans.setdefault("DNS Names", []).append(name.body.decode("latin-1"))
        elif kind == 1:
            sans.setdefault("Email Addresses", []).append(name.body.decode("latin-1"))
        elif kind == 6:
            sans.setdefault("URIs", []).append(name.body.decode("latin-1"))
        elif kind == 7 and len(name.body) in (4, 16):
            ip = ipaddress.ip_address(name.body)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped  # Go prints an IPv4-mapped address as IPv4
            sans.setdefault("IP Addresses", []).append(str(ip))


def _status(obj: Obj) -> str:
    """extractCSRStatus."""
    status = obj.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if status.get("certificate"):
        text += ",Issued"
    return text


def _list(w: Out, name: str, values: list[str] | None) -> None:
    if values:
        w.write(0, f"\t{name}:\t" + "\n\t\t".join(values) + "\n")


def certificate_signing_request(
    session: Session, res: Resource, obj: Obj, w: Out, events: bool
) -> None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    try:
        pem = base64.b64decode(spec.get("request") or "").decode("latin-1")
        request = parse_request(pem)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise ReadError(f"error: Error parsing CSR: {e}") from None
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Labels:\t{format_labels(meta.get('labels'))}\n")
    w.write(0, f"Annotations:\t{format_labels(meta.get('annotations'))}\n")
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, f"Requesting User:\t{spec.get('username', '')}\n")
    if spec.get("signerName"):
        w.write(0, f"Signer:\t{spec['signerName']}\n")
    if spec.get("expirationSeconds") is not None:
        w.write(0, f"Requested Duration:\t{human_duration(int(spec['expirationSeconds']))}\n")
    w.write(0, f"Status:\t{_status(obj)}\n")
    w.write(0, "Subject:\n")
    for one in SUBJECT_ONE.values():
        w.write(0, f"\t{one}:\t{(request.subject.get(one) or [''])[-1]}\n")
    for many in SUBJECT_MANY.values():
        _list(w, many, request.subject.get(many))
    if request.sans:
        w.write(0, "Subject Alternative Names:\n")
        for title in ("DNS Names", "Email Addresses", "URIs", "IP Addresses"):
            _list(w, title, request.sans.get(title))
    if events:
        describe_events(session, obj, w, res.kind)
