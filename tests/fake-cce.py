#!/usr/bin/python3
"""A faithful fake of the parts of Huawei Cloud that cce-certd talks to, for
tests. Loopback only; it stops by itself after --lifetime seconds.

  * CCE: POST /api/v3/projects/{project}/clusters/{cluster}/clustercert over
    HTTPS with a test CA made at start. Requests are authenticated like the
    real gateway: SDK-HMAC-SHA256 signatures checked with this file's own
    implementation of the algorithm (15-minute date window), temporary keys
    with their X-Security-Token, or X-Auth-Token tokens; more than 5 failures
    in a row lock an access key for --lockout-seconds. Each call issues a real
    client certificate and key signed by a per-run cluster CA, valid for
    `duration` "days" of --day-seconds seconds each, or until `expire_at`
    (YYYY-MM-DD hh:mm:ss +0000 UTC, 15 minutes to 5 years ahead; it wins
    over duration), the time to it scaled the same way.
  * CCE: GET /api/v3/projects/{project}/clusters (ListClusters) and
    GET /api/v3/projects/{project}/clusters/{cluster} (ShowCluster, 404 for
    one that does not exist), authenticated the same way, answering items
    as CCE writes them (many fields besides metadata.name, metadata.uid and
    status.phase). A project's clusters are made, renamed, hibernated, woken
    and deleted through the control API; a deleted cluster's clustercert
    call answers 404.
  * CCE: POST /api/v3/projects/{project}/clusters/{cluster}/clustercertrevoke
    (RevokeKubernetesClusterCert), authenticated the same way, body
    {"userId": ID} or {"agencyId": ID} (exactly one): every certificate issued
    to that identity for that cluster before the call is revoked. Each
    caller has an identity, the CN of the certificates it gets: a user id
    made from its access key, token or IAM user (or given in the accounts'
    "user_ids"), and for keys from ECS metadata the agency id --agency-id.
  * A stand-in for the clusters' API servers, on its own port, mutual TLS
    with the cluster CA (the kubeconfigs' internal server): GET /version
    answers 200 to a client certificate the fake issued and did not revoke,
    401 (a Kubernetes Status) to one it revoked; a certificate it did not
    sign fails the handshake.
  * IAM: POST /v3/auth/tokens (password -> X-Subject-Token).
  * ECS metadata, plain HTTP on its own port: PUT /meta-data/latest/api/token
    and GET /openstack/latest/securitykey (temporary keys).
  * Control, on the HTTPS port: POST /_fake/faults, /_fake/clear-faults,
    /_fake/shape, /_fake/accounts, /_fake/reset, /_fake/clusters (made or
    changed: {"project_id", "clusters": [{"cluster_id", "name", "phase"}]},
    phase Available unless given), /_fake/clusters/delete ({"project_id",
    "cluster_id"}); GET /_fake/clusters (the projects); GET /_fake/calls (and
    /_fake/calls/total: the clustercert total alone, for polling),
    /_fake/requests (every clustercert call: cluster, time, fault, body),
    /_fake/no-expire-at ({"cluster_id"}: its clustercert answers 400 to
    expire_at, as older cluster versions may),
    /_fake/issued (every certificate answered: cluster, serial, when the
    request came and when the answer was sent, its dates, the fault),
    /_fake/secrets (every secret the fake was given or handed out),
    /_fake/revocations (every revocation: cluster, kind, id, time),
    /_fake/valid (the serials of each cluster's certificates still valid now:
    issued, not expired, not revoked).

Accounts come from --accounts FILE (JSON):
  {"aksk": {"AK": "SK"}, "temporary": {"AK": {"sk": "SK", "token": "T"}},
   "iam_users": [{"domain", "user", "password"}], "tokens": ["static-token"],
   "missing_clusters": ["cluster-id"]}

Faults are queued per cluster id (or "*" for every cluster), one consumed per
clustercert call, or kept with "sticky": true; for ListClusters under
"list:PROJECT", for ShowCluster under "show:CLUSTER", for the revocation
under "revoke:CLUSTER". A fault is a string:
  status:CODE[:SHAPE[:retry-after=N|retry-after-date=SECONDS_FROM_NOW]]
      SHAPE is cce, apigw, apig, iam, keystone, html or empty
  hang | slow:SECONDS | drop | reset-mid-body | truncated | invalid-json |
  wrong-types | oversized | deep-json | bad-base64 | non-pem | key-mismatch |
  expired | not-yet-valid | missing-ca | bad-extra-ca | http-server |
  duplicate-entries | missing-entries | empty-list
(on the revocation: status, hang, slow, drop;
on ListClusters and ShowCluster: status, hang, slow, drop, truncated,
reset-mid-body, invalid-json, wrong-types, oversized, deep-json,
duplicate-entries (an item twice), missing-entries (an item without its uid),
empty-list (ListClusters: no item, though the project has clusters)).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

LOCK = threading.Lock()
STATE = {}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


# ---- certificates -----------------------------------------------------------

def make_key(kind="ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(cn):
    key = make_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    t = now_utc() - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(t).not_valid_after(t + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert, cn, not_before, not_after, server_names=None, client=True, key_kind="ec"):
    key = make_key(key_kind)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after))
    if server_names:
        import ipaddress
        alt = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if client:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def answer_document(cert_data, key_data, ca_data, server):
    """A clustercert answer as CCE gives it, with one internal endpoint
    (base64 data as given)."""
    return {"kind": "Config", "apiVersion": "v1", "preferences": {},
            "clusters": [{"name": "internalCluster", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
            "users": [{"name": "user", "user": {"client-certificate-data": cert_data, "client-key-data": key_data}}],
            "contexts": [{"name": "internal", "context": {"cluster": "internalCluster", "user": "user"}}],
            "current-context": "internal"}


def pem_cert(c):
    return c.public_bytes(serialization.Encoding.PEM)


def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                           serialization.NoEncryption())


def b64(data):
    return base64.b64encode(data).decode()


# ---- request signing (the fake's own implementation of the guide) -----------

def enc(s):
    return urllib.parse.quote(s, safe="-._~")


def canonical_request(method, raw_path, raw_query, headers, signed, body):
    path = urllib.parse.unquote(raw_path)
    uri = "/".join(enc(seg) for seg in path.split("/"))
    if not uri.endswith("/"):
        uri += "/"
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs))
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    canon_headers = "".join(f"{h}:{lower.get(h, '')}\n" for h in signed)
    payload = hashlib.sha256(body).hexdigest()
    if lower.get("x-sdk-content-sha256") == "UNSIGNED-PAYLOAD" and "x-sdk-content-sha256" in signed:
        payload = "UNSIGNED-PAYLOAD"
    return "\n".join([method, uri, query, canon_headers, ";".join(signed), payload])


def verify_signature(method, raw_path, raw_query, headers, body, sk, auth):
    try:
        algo, rest = auth.split(" ", 1)
        fields = dict(p.strip().split("=", 1) for p in rest.split(","))
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (ValueError, KeyError):
        return False, "malformed Authorization"
    if algo != "SDK-HMAC-SHA256":
        return False, "unknown algorithm"
    if signed != sorted(signed) or "x-sdk-date" not in signed or "host" not in signed:
        return False, "signed headers incomplete"
    creq = canonical_request(method, raw_path, raw_query, headers, signed, body)
    sts = "SDK-HMAC-SHA256\n%s\n%s" % (headers.get("X-Sdk-Date", ""), hashlib.sha256(creq.encode()).hexdigest())
    want = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        # Like the gateway: echo the canonical request with '|' for newlines.
        return False, "verify aksk signature fail, CanonicalRequest: " + creq.replace("\n", "|")
    return True, ""


# ---- state ------------------------------------------------------------------

def reset_state(args):
    with LOCK:
        STATE.update({
            "calls": {"clustercert": {}, "clustercert_total": 0, "iam_tokens": 0, "connections": 0,
                      "metadata_token": 0, "metadata_securitykey": 0, "auth_failures": 0,
                      "list": {}, "show": {}},
            "projects": {},         # project id -> cluster id -> {"name", "phase", "created"}
            "deleted": set(),       # cluster ids deleted through the control API
            "faults": {},           # cluster id or "*" -> list of [fault, sticky]
            "shapes": {},           # cluster id -> internal | external | external-tls
            "auth_failures": {},    # AK -> consecutive failures
            "locked_until": {},     # AK -> time
            "iam_tokens": {},       # token -> expiry (epoch)
            "iam_token_users": {},  # token -> "domain/user"
            "temporary": {},        # AK -> (SK, security token, expiry epoch)
            "metadata_tokens": set(),
            "requests": [],         # every clustercert call: cluster id, time, fault
            "issued": [],           # every clustercert answer with a certificate
            "serials": {},          # serial (int) -> {"cluster_id", "kind", "id", "issued", "not_after"}
            "revocations": [],      # every revocation: cluster id, kind, id, time
            "revoked_before": {},   # (cluster id, kind, id) -> time of the last revocation
            "no_expire_at": set(),  # cluster ids whose clustercert refuses expire_at (older versions)
        })
        STATE["calls"]["revoke"] = {}


def certificate_revoked(c):
    """Whether a certificate the fake issued (its STATE["serials"] record)
    was revoked: a revocation of its cluster and identity came after it.
    Called with LOCK held."""
    t = STATE["revoked_before"].get((c["cluster_id"], c["kind"], c["id"]))
    return t is not None and c["issued"] < t


def take_fault(cluster_id):
    with LOCK:
        for key in (cluster_id, "*"):
            q = STATE["faults"].get(key)
            if q:
                fault, sticky = q[0]
                if not sticky:
                    q.pop(0)
                return fault
    return None


# ---- HTTP handlers ----------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-cce"
    sys_version = ""

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle holds
        # the body back until the client's delayed ACK (40 ms a reply).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with LOCK:
            STATE["calls"]["connections"] += 1

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("fake-cce: " + (fmt % a) + "\n")

    def date_time_string(self, timestamp=None):
        t = time.time() + self.server.args.skew_seconds
        return super().date_time_string(t)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", secrets.token_hex(16))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error_body(self, status, shape):
        codes = {400: ("CCE.01400001", "APIGW.0201"), 401: ("CCE.01401001", "APIGW.0301"),
                 403: ("CCE.01403001", "APIGW.0302"), 404: ("CCE.01404001", "APIGW.0101"),
                 429: ("CCE.01429001", "APIGW.0308")}
        cce_code, gw_code = codes.get(status, ("CCE.0%d0001" % (1000 + status), "APIGW.0%d" % status))
        if shape == "cce":
            return {"errorCode": cce_code, "errorMessage": "fake CCE error %d" % status}
        if shape in ("apigw", "apig"):
            code = gw_code if shape == "apigw" else gw_code.replace("APIGW.", "APIG.")
            return {"error_code": code, "error_msg": "fake gateway error %d" % status,
                    "request_id": secrets.token_hex(16)}
        if shape == "iam":
            return {"error_msg": "fake IAM error %d" % status, "error_code": "IAM.%04d" % (status % 10000)}
        if shape == "keystone":
            return {"error": {"code": status, "message": "fake Keystone error %d" % status, "title": "Error"}}
        if shape == "html":
            return "<html><body>%d</body></html>" % status
        return ""

    # -- authentication of CCE requests

    def user_identity(self, what):
        given = self.server.accounts.get("user_ids", {}).get(what)
        return {"kind": "user", "id": given or hashlib.sha256(("user:" + what).encode()).hexdigest()[:32]}

    def authenticate(self, body):
        """None when the request is authenticated (self.identity says who),
        else the answer to send."""
        args = self.server.args
        token = self.headers.get("X-Auth-Token")
        if token:
            with LOCK:
                exp = STATE["iam_tokens"].get(token)
                user = STATE["iam_token_users"].get(token, token)
            if token in self.server.accounts.get("tokens", []) or (exp and exp > time.time()):
                self.identity = self.user_identity(user)
                return None
            return (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: token invalid or expired"})
        auth = self.headers.get("Authorization")
        if not auth:
            return (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: no credentials"})
        try:
            ak = auth.split("Access=", 1)[1].split(",", 1)[0]
        except IndexError:
            return (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: malformed"})
        with LOCK:
            if STATE["locked_until"].get(ak, 0) > time.time():
                return (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: access key locked"})
        sk = self.server.accounts.get("aksk", {}).get(ak)
        why = ""
        identity = self.user_identity(ak)
        if sk is None:
            with LOCK:
                tmp = STATE["temporary"].get(ak)
            if tmp:  # from ECS metadata: an agency's
                identity = {"kind": "agency", "id": args.agency_id}
            given = self.server.accounts.get("temporary", {}).get(ak)
            if given:
                tmp = (given["sk"], given["token"], time.time() + 3600)
            if tmp and tmp[2] > time.time():
                sk = tmp[0]
                if self.headers.get("X-Security-Token") != tmp[1]:
                    sk, why = None, "security token mismatch"
            else:
                why = "unknown or expired access key"
        if sk is not None:
            date = self.headers.get("X-Sdk-Date", "")
            try:
                t = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
                if abs((now_utc() - t).total_seconds() + args.skew_seconds) > 15 * 60:
                    sk, why = None, "request expired (X-Sdk-Date more than 15 minutes off)"
            except ValueError:
                sk, why = None, "bad X-Sdk-Date"
        if sk is not None:
            u = urllib.parse.urlsplit(self.path)
            ok, why = verify_signature(self.command, u.path, u.query, self.headers, body, sk, auth)
            if ok:
                with LOCK:
                    STATE["auth_failures"][ak] = 0
                self.identity = identity
                return None
        with LOCK:
            STATE["calls"]["auth_failures"] += 1
            n = STATE["auth_failures"].get(ak, 0) + 1
            STATE["auth_failures"][ak] = n
            if n > 5:
                STATE["locked_until"][ak] = time.time() + args.lockout_seconds
        return (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: " + why})

    # -- clustercert

    def requested_lifetime(self, body, cluster_id):
        """The lifetime a clustercert body asks for, in real seconds (a "day"
        lasts --day-seconds), or None and why it is refused: expire_at
        ("2025-01-01 16:00:00 +0000 UTC", 15 minutes to 5 years ahead) wins
        over duration (days 1..1827, or -1 for five years)."""
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise ValueError
        except ValueError:
            return None, "invalid request body"
        day = self.server.args.day_seconds
        if "expire_at" in doc:
            with LOCK:
                refused = cluster_id in STATE["no_expire_at"]
            if refused:
                return None, "expire_at is not supported for this cluster version"
            at = doc["expire_at"]
            try:
                if not isinstance(at, str) or not at.endswith(" +0000 UTC"):
                    raise ValueError
                t = datetime.datetime.strptime(at[:-len(" +0000 UTC")], "%Y-%m-%d %H:%M:%S")
            except ValueError:
                return None, "invalid expire_at: want YYYY-MM-DD hh:mm:ss +0000 UTC"
            ahead = t.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()
            if not (15 * 60 - 60 <= ahead <= 5 * 366 * 86400):
                return None, "expire_at must be 15 minutes to 5 years ahead"
            return ahead * day / 86400, None
        duration = doc.get("duration")
        if not isinstance(duration, int) or isinstance(duration, bool) or not (duration == -1 or 1 <= duration <= 1827):
            return None, "invalid duration"
        return (1826 if duration == -1 else duration) * day, None

    def kubeconfig(self, cluster_id, lifetime, fault):
        srv = self.server
        t0 = now_utc() - datetime.timedelta(seconds=1)
        not_before, not_after = t0, t0 + datetime.timedelta(seconds=lifetime)
        if fault == "expired":
            not_before, not_after = t0 - datetime.timedelta(days=2), t0 - datetime.timedelta(days=1)
        if fault == "not-yet-valid":
            not_before, not_after = t0 + datetime.timedelta(days=1), t0 + datetime.timedelta(days=2)
        issued_at = time.time()
        key, cert = issue(srv.cluster_ca_key, srv.cluster_ca, self.identity["id"], not_before, not_after)
        with LOCK:
            STATE["serials"][cert.serial_number] = {"cluster_id": cluster_id, "kind": self.identity["kind"],
                                                    "id": self.identity["id"], "issued": issued_at,
                                                    "not_after": not_after.timestamp()}
        cert_pem, key_pem = pem_cert(cert), pem_key(key)
        if fault == "key-mismatch":
            key_pem = pem_key(make_key())
        ca_pem = pem_cert(srv.cluster_ca)
        cert_data, key_data, ca_data = b64(cert_pem), b64(key_pem), b64(ca_pem)
        if fault == "bad-base64":
            cert_data = cert_data[:-3] + "!!="
        if fault == "non-pem":
            cert_data = b64(b"this is not a PEM certificate\n")
        with LOCK:
            shape = STATE["shapes"].get(cluster_id, "internal")
        port = srv.server_address[1]
        doc = answer_document(cert_data, key_data, ca_data, "https://127.0.0.1:%d" % srv.apiserver_port)
        internal = doc["clusters"][0]
        clusters, contexts = doc["clusters"], doc["contexts"]
        if fault == "missing-ca":
            del internal["cluster"]["certificate-authority-data"]
        if fault == "http-server":
            internal["cluster"]["server"] = "http://127.0.0.1:%d" % srv.apiserver_port
        if shape in ("external", "external-tls"):
            clusters.append({"name": "externalCluster", "cluster": {"server": "https://localhost:%d" % port,
                                                                    "insecure-skip-tls-verify": True}})
            contexts.append({"name": "external", "context": {"cluster": "externalCluster", "user": "user"}})
            doc["current-context"] = "external"
        if shape == "external-tls":
            clusters.append({"name": "externalClusterTLSVerify",
                             "cluster": {"server": "https://localhost:%d" % port, "certificate-authority-data": ca_data}})
            contexts.append({"name": "externalTLSVerify", "context": {"cluster": "externalClusterTLSVerify", "user": "user"}})
        if fault == "bad-extra-ca":
            # An entry that is not the current one, with CA data that is no certificate.
            clusters.append({"name": "otherCluster", "cluster": {"server": "https://localhost:%d" % port,
                                                                 "certificate-authority-data": b64(b"not a CA\n")}})
        if fault == "duplicate-entries":
            clusters.append(dict(clusters[0]))
        if fault == "missing-entries":
            doc["users"] = []
        if fault == "wrong-types":
            doc["clusters"] = {"internalCluster": internal}
        return doc, cert

    def clustercert(self, project_id, cluster_id):
        body = self.read_body()
        if len(body) < int(self.headers.get("Content-Length") or 0):
            # The client went away mid-request (a daemon stopped or killed):
            # like the gateway, not a call, and no authentication failure.
            return self.close_now()
        with LOCK:
            c = STATE["calls"]
            c["clustercert"][cluster_id] = c["clustercert"].get(cluster_id, 0) + 1
            c["clustercert_total"] += 1
            c.setdefault("first_clustercert_at", time.time())
        fault = take_fault(cluster_id)
        with LOCK:
            STATE["requests"].append({"cluster_id": cluster_id, "received": time.time(), "fault": fault,
                                      "body": body.decode(errors="replace")})

        if self.refused(fault, cluster_id, body):
            return
        lifetime, why = self.requested_lifetime(body, cluster_id)
        if lifetime is None:
            return self.send(400, {"errorCode": "CCE.01400001", "errorMessage": why})

        if fault == "invalid-json":
            return self.send(200, '{"kind": "Config", "apiVersion": ')
        if fault == "oversized":
            return self.send(200, '{"kind": "Config", "pad": "' + "x" * (2 * 1024 * 1024) + '"}')
        if fault == "deep-json":
            return self.send(200, "[" * 10000 + "]" * 10000)
        received = time.time()
        doc_obj, cert = self.kubeconfig(cluster_id, lifetime, fault)
        if not self.send_document(doc_obj, fault, {"Port-ID": "port-" + cluster_id[:8]}):
            return
        with LOCK:
            STATE["issued"].append({"cluster_id": cluster_id, "serial": "%x" % cert.serial_number,
                                    "identity": "%s %s" % (self.identity["kind"], self.identity["id"]),
                                    "received": received, "answered": time.time(),
                                    "not_before": cert.not_valid_before.replace(tzinfo=datetime.timezone.utc).timestamp(),
                                    "not_after": cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp(),
                                    "fault": fault})

    # -- RevokeKubernetesClusterCert

    def revoke(self, project_id, cluster_id):
        body = self.read_body()
        with LOCK:
            calls = STATE["calls"]["revoke"]
            calls[cluster_id] = calls.get(cluster_id, 0) + 1
        fault = take_fault("revoke:" + cluster_id)
        if self.refused(fault, cluster_id, body):
            return
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict) or len(doc) != 1:
                raise ValueError
            (field, ident), = doc.items()
            if field not in ("userId", "agencyId") or not isinstance(ident, str) or not ident:
                raise ValueError
        except (ValueError, TypeError):
            return self.send(400, {"errorCode": "CCE.01400001", "errorMessage": "give exactly one of userId, agencyId"})
        kind = "user" if field == "userId" else "agency"
        with LOCK:
            t = time.time()
            STATE["revocations"].append({"cluster_id": cluster_id, "kind": kind, "id": ident, "time": t})
            STATE["revoked_before"][(cluster_id, kind, ident)] = t
        self.send(200, {})

    # -- faults that every CCE call can get

    def refused(self, fault, cluster_id, body):
        """What a POST about one cluster meets before its body is read: the
        fault's early answer, authentication, a deleted or missing cluster,
        the content type. True when it was answered (or dropped)."""
        if self.early_fault(fault):
            return True
        denied = self.authenticate(body)
        if denied:
            self.send(*denied)
            return True
        with LOCK:
            deleted = cluster_id in STATE["deleted"]
        if deleted or cluster_id in self.server.accounts.get("missing_clusters", []):
            self.send(404, {"errorCode": "CCE.01404001", "errorMessage": "cluster not found"})
            return True
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self.send(400, {"errorCode": "CCE.01400006", "errorMessage": "content type not supported"})
            return True
        return False

    def early_fault(self, fault):
        """The faults that come before authentication: an error status,
        a hang, a slow answer, a dropped connection. True when the answer
        (or its absence) was the fault's."""
        if fault and fault.startswith("status:"):
            parts = fault.split(":")
            status = int(parts[1])
            shape = parts[2] if len(parts) > 2 else "cce"
            headers = {}
            for extra in parts[3:]:
                k, v = extra.split("=", 1)
                if k == "retry-after":
                    headers["Retry-After"] = v
                elif k == "retry-after-date":
                    headers["Retry-After"] = email_date(time.time() + int(v))
            body_out = self.error_body(status, shape)
            self.send(status, body_out, headers, "text/html" if shape == "html" else "application/json")
            return True
        if fault == "hang":
            time.sleep(self.server.args.hang_seconds)
            self.close_now()
            return True
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":")[1]))
        if fault == "drop":
            self.close_now()
            return True
        return False

    def send_document(self, doc_obj, fault, headers=None):
        """A 200 answer, cut short when the fault says so. True when it was
        sent whole."""
        doc = json.dumps(doc_obj).encode()
        if fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(doc)))
            self.end_headers()
            self.wfile.write(doc[: len(doc) // 2])
            self.close_now()
            return False
        if fault == "reset-mid-body":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(doc)))
            self.end_headers()
            self.wfile.write(doc[:100])
            self.wfile.flush()
            self.reset_now()
            return False
        self.send(200, doc, headers)
        self.wfile.flush()
        return True

    # -- ListClusters and ShowCluster

    def cluster_item(self, cluster_id, c):
        port = self.server.server_address[1]
        return {"kind": "Cluster", "apiVersion": "v3",
                "metadata": {"name": c["name"], "uid": cluster_id, "creationTimestamp": c["created"],
                             "updateTimestamp": c["created"], "labels": {"FeatureGates": "elbv3,"},
                             "annotations": {"installedAddonsInstalling": "[]"}},
                "spec": {"category": "CCE", "type": "VirtualMachine", "flavor": "cce.s1.small",
                         "version": "v1.28", "description": "",
                         "hostNetwork": {"vpc": "vpc-" + cluster_id[:8], "subnet": "subnet-" + cluster_id[:8]},
                         "containerNetwork": {"mode": "overlay_l2", "cidr": "172.16.0.0/16"},
                         "kubernetesSvcIpRange": "10.247.0.0/16", "authentication": {"mode": "rbac"},
                         "billingMode": 0, "kubeProxyMode": "iptables", "az": "multi_az",
                         "extendParam": {"upgradefrom": ""}},
                "status": {"phase": c["phase"], "jobID": "",
                           "endpoints": [{"url": "https://127.0.0.1:%d" % port, "type": "Internal"}]}}

    def list_clusters(self, project_id, cluster_id=None):
        """ListClusters (cluster_id None) or ShowCluster."""
        body = self.read_body()
        what, key = ("list", project_id) if cluster_id is None else ("show", cluster_id)
        with LOCK:
            calls = STATE["calls"][what]
            calls[key] = calls.get(key, 0) + 1
        fault = take_fault("%s:%s" % (what, key))
        if self.early_fault(fault):
            return
        denied = self.authenticate(body)
        if denied:
            return self.send(*denied)
        with LOCK:
            clusters = {i: dict(c) for i, c in STATE["projects"].get(project_id, {}).items()}
        if cluster_id is not None:
            if cluster_id not in clusters:
                return self.send(404, {"errorCode": "CCE.01404001", "errorMessage": "cluster not found"})
            doc = self.cluster_item(cluster_id, clusters[cluster_id])
        else:
            items = [self.cluster_item(i, c) for i, c in sorted(clusters.items(), key=lambda kv: kv[1]["name"])]
            if fault == "empty-list":
                items = []  # as if the project had no cluster, though it has them
            if fault == "duplicate-entries" and items:
                items.append(items[0])
            if fault == "missing-entries" and items:
                del items[0]["metadata"]["uid"]
            doc = {"kind": "Cluster", "apiVersion": "v3", "items": items}
            if fault == "wrong-types":
                doc["items"] = {"prod": items[0] if items else {}}
        if fault == "invalid-json":
            return self.send(200, '{"kind": "Cluster", "items": [')
        if fault == "oversized":
            return self.send(200, '{"kind": "Cluster", "pad": "' + "x" * (64 * 1024 * 1024) + '"}')
        if fault == "deep-json":
            return self.send(200, "[" * 10000 + "]" * 10000)
        self.send_document(doc, fault)

    def close_now(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset_now(self):
        self.close_connection = True
        try:
            # Linger 0: close() sends a TCP reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
        except OSError:
            pass

    # -- IAM

    def iam_tokens(self):
        body = self.read_body()
        with LOCK:
            STATE["calls"]["iam_tokens"] += 1
        try:
            ident = json.loads(body)["auth"]["identity"]
            user = ident["password"]["user"]
            d, u, p = user["domain"]["name"], user["name"], user["password"]
        except (ValueError, KeyError, TypeError):
            return self.send(400, {"error_msg": "The request body is invalid.", "error_code": "IAM.0011"})
        for acct in self.server.accounts.get("iam_users", []):
            if (acct["domain"], acct["user"], acct["password"]) == (d, u, p):
                token = "MII" + secrets.token_urlsafe(48)
                exp = time.time() + self.server.args.token_seconds
                with LOCK:
                    STATE["iam_tokens"][token] = exp
                    STATE["iam_token_users"][token] = d + "/" + u
                expires = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                return self.send(201, {"token": {"expires_at": expires, "methods": ["password"],
                                                 "user": {"name": u, "domain": {"name": d}}}},
                                 {"X-Subject-Token": token})
        return self.send(401, {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}})

    # -- control

    def control(self):
        if self.command == "GET" and self.path == "/_fake/calls":
            with LOCK:
                return self.send(200, STATE["calls"])
        if self.command == "GET" and self.path == "/_fake/calls/total":
            # For polling: not the count of each of thousands of clusters.
            with LOCK:
                return self.send(200, {"clustercert_total": STATE["calls"]["clustercert_total"]})
        if self.command == "GET" and self.path == "/_fake/requests":
            with LOCK:
                return self.send(200, STATE["requests"])
        if self.command == "GET" and self.path == "/_fake/issued":
            with LOCK:
                return self.send(200, STATE["issued"])
        if self.command == "GET" and self.path == "/_fake/revocations":
            with LOCK:
                return self.send(200, STATE["revocations"])
        if self.command == "GET" and self.path == "/_fake/valid":
            now = time.time()
            with LOCK:
                valid = {}
                for serial, c in STATE["serials"].items():
                    if c["not_after"] > now and not certificate_revoked(c):
                        valid.setdefault(c["cluster_id"], []).append("%x" % serial)
            return self.send(200, valid)
        if self.command == "GET" and self.path == "/_fake/secrets":
            return self.send(200, self.known_secrets())
        body = json.loads(self.read_body() or b"{}")
        if self.path == "/_fake/faults":
            with LOCK:
                q = STATE["faults"].setdefault(body.get("cluster_id", "*"), [])
                q.extend([f, bool(body.get("sticky"))] for f in body["faults"])
            return self.send(200, {})
        if self.path == "/_fake/clear-faults":
            with LOCK:
                STATE["faults"].clear()
            return self.send(200, {})
        if self.path == "/_fake/no-expire-at":
            with LOCK:
                STATE["no_expire_at"].add(body["cluster_id"])
            return self.send(200, {})
        if self.path == "/_fake/shape":
            with LOCK:
                STATE["shapes"][body["cluster_id"]] = body["shape"]
            return self.send(200, {})
        if self.path == "/_fake/accounts":
            self.server.accounts.update(body)
            return self.send(200, {})
        if self.path == "/_fake/reset":
            reset_state(self.server.args)
            return self.send(200, {})
        if self.path == "/_fake/clusters" and self.command == "GET":
            with LOCK:
                return self.send(200, STATE["projects"])
        if self.path == "/_fake/clusters":
            with LOCK:
                project = STATE["projects"].setdefault(body["project_id"], {})
                for c in body["clusters"]:
                    old = project.get(c["cluster_id"], {"created": now_utc().isoformat(), "phase": "Available"})
                    project[c["cluster_id"]] = {"name": c.get("name", old.get("name")),
                                                "phase": c.get("phase", old["phase"]), "created": old["created"]}
                    STATE["deleted"].discard(c["cluster_id"])
            return self.send(200, {})
        if self.path == "/_fake/clusters/delete":
            with LOCK:
                STATE["projects"].get(body["project_id"], {}).pop(body["cluster_id"], None)
                STATE["deleted"].add(body["cluster_id"])
            return self.send(200, {})
        return self.send(404, {"error": "no such control"})

    def known_secrets(self):
        a = self.server.accounts
        with LOCK:
            found = list(a.get("aksk", {}).items()) + [(k, v["sk"]) for k, v in a.get("temporary", {}).items()]
            found = [s for pair in found for s in pair]
            found += [v["token"] for v in a.get("temporary", {}).values()]
            found += [u["password"] for u in a.get("iam_users", [])] + list(a.get("tokens", []))
            found += list(STATE["iam_tokens"]) + list(STATE["metadata_tokens"])
            found += [s for ak, (sk, st, _) in STATE["temporary"].items() for s in (ak, sk, st)]
        return sorted(set(found))

    def route(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self.control()
        parts = path.strip("/").split("/")
        if self.command == "POST" and len(parts) == 7 and parts[:3] == ["api", "v3", "projects"] \
                and parts[4] == "clusters" and parts[6] == "clustercert":
            return self.clustercert(parts[3], parts[5])
        if self.command == "POST" and len(parts) == 7 and parts[:3] == ["api", "v3", "projects"] \
                and parts[4] == "clusters" and parts[6] == "clustercertrevoke":
            return self.revoke(parts[3], parts[5])
        if self.command == "GET" and len(parts) in (5, 6) and parts[:3] == ["api", "v3", "projects"] \
                and parts[4] == "clusters":
            return self.list_clusters(parts[3], parts[5] if len(parts) == 6 else None)
        if self.command == "POST" and path == "/v3/auth/tokens":
            return self.iam_tokens()
        self.read_body()
        return self.send(404, {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published in the environment"})

    do_GET = do_POST = do_PUT = do_DELETE = route


class ApiServerHandler(http.server.BaseHTTPRequestHandler):
    """The clusters' API servers: mutual TLS with the cluster CA (the
    handshake refuses a certificate it did not sign), then 401 for a
    certificate that was revoked, 200 for one that was not."""
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % a) + "\n")

    def do_GET(self):
        der = self.connection.getpeercert(binary_form=True)
        serial = x509.load_der_x509_certificate(der).serial_number if der else None
        with LOCK:
            c = STATE["serials"].get(serial)
            ok = c is not None and not certificate_revoked(c) and c["not_after"] > time.time()
        if ok:
            body = {"major": "1", "minor": "28", "gitVersion": "v1.28.3-fake", "platform": "linux/amd64"}
            status = 200
        else:
            body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
            status = 401
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class MetadataHandler(Handler):
    def route(self):
        self.read_body()
        args = self.server.args
        if self.command == "PUT" and self.path == "/meta-data/latest/api/token":
            with LOCK:
                STATE["calls"]["metadata_token"] += 1
                tok = secrets.token_hex(16)
                STATE["metadata_tokens"].add(tok)
            return self.send(200, tok, content_type="text/plain")
        if self.command == "GET" and self.path == "/openstack/latest/securitykey":
            with LOCK:
                STATE["calls"]["metadata_securitykey"] += 1
                tokens = set(STATE["metadata_tokens"])
            if args.require_metadata_token and self.headers.get("X-Metadata-Token") not in tokens:
                return self.send(401, "missing metadata token", content_type="text/plain")
            ak = "TMPAK" + secrets.token_hex(8).upper()
            sk = secrets.token_urlsafe(30)
            st = secrets.token_urlsafe(60)
            exp = time.time() + args.temporary_seconds
            with LOCK:
                STATE["temporary"][ak] = (sk, st, exp)
            expires = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return self.send(200, {"credential": {"access": ak, "secret": sk, "securitytoken": st, "expires_at": expires}})
        return self.send(404, "not found", content_type="text/plain")

    do_GET = do_POST = do_PUT = route


def email_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a client that
    # opens many connections at once; each then waits a second to retry.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Clients that give up (TLS refused, timeouts) are part of the tests.
        if self.args.verbose:
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--state-dir", required=True)
    p.add_argument("--accounts")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--metadata-port", type=int, default=0)
    p.add_argument("--day-seconds", type=float, default=86400)
    p.add_argument("--token-seconds", type=float, default=86400)
    p.add_argument("--temporary-seconds", type=float, default=3600)
    p.add_argument("--lockout-seconds", type=float, default=300)
    p.add_argument("--hang-seconds", type=float, default=120)
    p.add_argument("--skew-seconds", type=float, default=0)
    p.add_argument("--require-metadata-token", action="store_true")
    p.add_argument("--agency-id", default="0fa1ce5e9a8b4c0d8e7f6a5b4c3d2e1f",
                   help="the agency of the keys from ECS metadata (the CN of their certificates)")
    p.add_argument("--lifetime", type=float, default=900)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    os.makedirs(args.state_dir, exist_ok=True)
    reset_state(args)
    accounts = json.load(open(args.accounts)) if args.accounts else {}

    tls_ca_key, tls_ca = make_ca("fake-cce test CA")
    t = now_utc() - datetime.timedelta(days=1)
    srv_key, srv_cert = issue(tls_ca_key, tls_ca, "127.0.0.1", t, t + datetime.timedelta(days=30),
                              server_names=["127.0.0.1", "localhost", "::1"], client=False)
    ca_file = os.path.join(args.state_dir, "ca.pem")
    with open(ca_file, "wb") as f:
        f.write(pem_cert(tls_ca))
    with open(os.path.join(args.state_dir, "server.pem"), "wb") as f:
        f.write(pem_cert(srv_cert) + pem_key(srv_key))
    cluster_ca_key, cluster_ca = make_ca("fake-cce cluster CA")
    with open(os.path.join(args.state_dir, "cluster-ca.pem"), "wb") as f:
        f.write(pem_cert(cluster_ca))

    httpd = Server(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(args.state_dir, "server.pem"))
    # The handshake happens in the handler thread, so a stalled client blocks no one.
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    meta = Server(("127.0.0.1", args.metadata_port), MetadataHandler)
    apiserver = Server(("127.0.0.1", 0), ApiServerHandler)
    api_key, api_cert = issue(cluster_ca_key, cluster_ca, "127.0.0.1", t, t + datetime.timedelta(days=30),
                              server_names=["127.0.0.1", "localhost", "::1"], client=False)
    with open(os.path.join(args.state_dir, "apiserver.pem"), "wb") as f:
        f.write(pem_cert(api_cert) + pem_key(api_key))
    api_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    api_ctx.load_cert_chain(os.path.join(args.state_dir, "apiserver.pem"))
    api_ctx.verify_mode = ssl.CERT_REQUIRED
    api_ctx.load_verify_locations(os.path.join(args.state_dir, "cluster-ca.pem"))
    apiserver.socket = api_ctx.wrap_socket(apiserver.socket, server_side=True, do_handshake_on_connect=False)
    httpd.apiserver_port = apiserver.server_address[1]
    for s in (httpd, meta, apiserver):
        s.args = args
        s.accounts = accounts
        s.cluster_ca, s.cluster_ca_key = cluster_ca, cluster_ca_key
        threading.Thread(target=s.serve_forever, daemon=True).start()

    info = {"port": httpd.server_address[1], "metadata_port": meta.server_address[1],
            "apiserver_port": apiserver.server_address[1], "ca_file": ca_file,
            "cluster_ca_file": os.path.join(args.state_dir, "cluster-ca.pem"), "pid": os.getpid()}
    with open(os.path.join(args.state_dir, "ready.json.tmp"), "w") as f:
        json.dump(info, f)
    os.rename(os.path.join(args.state_dir, "ready.json.tmp"), os.path.join(args.state_dir, "ready.json"))
    print("READY %d %d %d" % (info["port"], info["metadata_port"], info["apiserver_port"]), flush=True)

    # Stops by itself: after --lifetime, or when stdin closes (the test ended).
    deadline = time.time() + args.lifetime
    def watch_stdin():
        try:
            while sys.stdin.read(1):
                pass
        except (OSError, ValueError):
            return
        os._exit(0)
    import stat
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        threading.Thread(target=watch_stdin, daemon=True).start()
    while time.time() < deadline:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    main()
