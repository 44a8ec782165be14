#!/usr/bin/python3
"""Mints the answers that fast-fake serves, by the Python fake's own code
(tests/fake-cce.py: its CA, its certificates, its answer layout): in DIR,
  ca.pem, server.pem   a TLS CA, and the fast fake's certificate and key
                       for 127.0.0.1 signed by it
  cluster-ca.pem       the run's cluster CA
  answers.jsonl        COUNT clustercert answers, one JSON document a line,
                       each with its own client certificate and key from
                       the cluster CA, valid for --days days; every
                       --rsa-every-th key RSA 2048, the others EC P-256

  python3 tests/bench/answer-pool.py --dir DIR --count 12000
"""
import argparse
import datetime
import importlib.util
import json
import multiprocessing
import os
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

FAKE = pathlib.Path(__file__).resolve().parent.parent / "fake-cce.py"
spec = importlib.util.spec_from_file_location("fake_cce", FAKE)
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)


def mint(job):
    """Answers [first, first + count) (a worker's share)."""
    first, count, ca_pem, ca_key_pem, days, rsa_every, server = job
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    ca_data = fake.b64(ca_pem)
    t0 = fake.now_utc() - datetime.timedelta(seconds=60)
    lines = []
    for i in range(first, first + count):
        kind = "rsa" if rsa_every and i % rsa_every == rsa_every - 1 else "ec"
        key, cert = fake.issue(ca_key, ca, "bench-user-%08d" % i, t0, t0 + datetime.timedelta(days=days), key_kind=kind)
        doc = fake.answer_document(fake.b64(fake.pem_cert(cert)), fake.b64(fake.pem_key(key)), ca_data, server)
        lines.append(json.dumps(doc, separators=(",", ":")))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--count", type=int, default=12000)
    ap.add_argument("--days", type=float, default=1)
    ap.add_argument("--rsa-every", type=int, default=64)
    ap.add_argument("--server", default="https://127.0.0.1:6443")
    args = ap.parse_args()
    d = pathlib.Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)

    tls_key, tls_ca = fake.make_ca("fast-fake test CA")
    t = fake.now_utc() - datetime.timedelta(days=1)
    srv_key, srv_cert = fake.issue(tls_key, tls_ca, "127.0.0.1", t, t + datetime.timedelta(days=30),
                                   server_names=["127.0.0.1", "localhost"], client=False)
    (d / "ca.pem").write_bytes(fake.pem_cert(tls_ca))
    (d / "server.pem").write_bytes(fake.pem_cert(srv_cert) + fake.pem_key(srv_key))
    ca_key, ca = fake.make_ca("fast-fake cluster CA")
    ca_pem, ca_key_pem = fake.pem_cert(ca), fake.pem_key(ca_key)
    (d / "cluster-ca.pem").write_bytes(ca_pem)

    workers = os.cpu_count() or 1
    share = -(-args.count // workers)
    jobs = [(w * share, min(share, args.count - w * share), ca_pem, ca_key_pem, args.days, args.rsa_every, args.server)
            for w in range(workers) if w * share < args.count]
    with multiprocessing.Pool(len(jobs)) as pool:
        parts = pool.map(mint, jobs)
    tmp = d / "answers.jsonl.tmp"
    with open(tmp, "w") as f:
        for part in parts:
            f.write("\n".join(part) + "\n")
    os.rename(tmp, d / "answers.jsonl")


if __name__ == "__main__":
    main()
