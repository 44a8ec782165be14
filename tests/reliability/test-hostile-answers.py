#!/usr/bin/python3
"""Every fault the fake cloud can inject, against the running daemon: each
HTTP status class with each error body shape, 429 with and without
Retry-After, answers that hang past the timeout, resets, truncated, invalid,
oversized and deeply nested JSON, wrong types, bad base64, non-PEM data, a
key that does not match, expired and not-yet-valid certificates, no CA, an
http:// server, duplicate and missing entries. One cluster per fault, each
with credentials of its own, an access key of its own (an authentication
failure pauses every cluster of every credential entry with that key), all
due at once. For each: the kubeconfig is byte for
byte what it was, the journal names the error class, every retry comes no
sooner than the time the daemon announced and that time follows the
backoff rules, and the fake's call counter shows no tight loop. Prints TAP."""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

WINDOW = 16             # seconds the daemon runs with every fault in place
CERT_SECONDS = 30       # the fake's "day": certificates of duration 1 live this long
REQUEST_TIMEOUT = 3
SHAPES = ["cce", "apigw", "apig", "iam", "keystone", "html", ""]
# status -> (class, what follows)
STATUSES = {
    400: ("invalid-request", "park"), 401: ("authentication", "pause"), 403: ("authentication", "pause"),
    404: ("not-found", "park"), 408: ("transient", "retry"), 409: ("invalid-request", "park"),
    429: ("throttled", "retry"), 500: ("transient", "retry"), 502: ("transient", "retry"),
    503: ("transient", "retry"), 504: ("transient", "retry"),
}
ANSWERS = [  # fault, class, what follows
    ("status:302:", "bad-response", "retry"),
    ("status:429:apigw:retry-after=6", "throttled", "after:6"),
    ("status:429:cce:retry-after-date=8", "throttled", "after:8"),
    ("status:503:cce:retry-after=5", "transient", "after:5"),
    ("hang", "transient", "retry"),
    ("slow:10", "transient", "retry"),
    ("drop", "transient", "retry"),
    ("reset-mid-body", "transient", "retry"),
    ("truncated", "transient", "retry"),
    ("invalid-json", "bad-response", "retry"),
    ("oversized", "bad-response", "retry"),
    ("deep-json", "bad-response", "retry"),
    ("wrong-types", "bad-response", "retry"),
    ("bad-base64", "bad-response", "retry"),
    ("non-pem", "bad-response", "retry"),
    ("key-mismatch", "bad-response", "retry"),
    ("expired", "bad-response", "retry"),
    ("not-yet-valid", "bad-response", "retry"),
    ("missing-ca", "bad-response", "retry"),
    ("bad-extra-ca", "bad-response", "retry"),
    ("http-server", "bad-response", "retry"),
    ("duplicate-entries", "bad-response", "retry"),
    ("missing-entries", "bad-response", "retry"),
]


def iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def backoff_cap(failures, seconds_left):
    """The longest wait the backoff allows (daemon/schedule.c): 30 s doubling
    per failure up to an hour, never more than a quarter of what is left of
    the certificate (at least 1 s)."""
    cap = min(30 * 2 ** (failures - 1), 3600)
    if seconds_left > 0:
        cap = min(cap, max(seconds_left // 4, 1))
    return cap


def test_hostile_answers(d):
    cases = [(f"status:{code}:{shape}", cls, follows) for code, (cls, follows) in STATUSES.items() for shape in SHAPES]
    cases += ANSWERS
    keys = {i: (f"HPUAEXAMPLEAK{100 + i:07d}", f"ExampleSecretKey{100 + i:026d}") for i in range(1, len(cases) + 1)}
    fake = Fake(d, day_seconds=CERT_SECONDS, hang_seconds=60, extra_accounts={"aksk": dict(keys.values())})
    journal = Journal(d)
    (d / "secrets").mkdir()
    lines = []
    for i, (ak, sk) in keys.items():
        for name, value in ((f"ak{i}", ak), (f"sk{i}", sk)):
            (d / "secrets" / name).write_text(value + "\n")
            (d / "secrets" / name).chmod(0o600)
        lines.append(f"cred{i}: {{access-key: {{file: {d}/secrets/ak{i}}}, secret-key: {{file: {d}/secrets/sk{i}}}}}")
    # Due two seconds after each certificate is issued: renew-before 28 s of 30.
    config = write_config(d, fake, [(i, f", credentials: cred{i}, renew-before: {CERT_SECONDS - 2}s")
                                    for i in range(1, len(cases) + 1)],
                          extra="parallel-requests: 16", credential_lines=lines, request_timeout=f"{REQUEST_TIMEOUT}s")
    # The first certificates, before any fault, with a timeout that a slow
    # machine running the daemon under valgrind does not reach (16 TLS
    # handshakes at once there take more than REQUEST_TIMEOUT).
    first = d / "config-first.yaml"
    first.write_text(config.read_text().replace(f"request-timeout: {REQUEST_TIMEOUT}s\n", "request-timeout: 60s\n", 1))
    status, err = run_once(first, timeout=240)
    check(f"{len(cases)} clusters get their first certificate", status == 0, err)
    before = {i: (d / f"kube/c{i}").read_bytes() for i in range(1, len(cases) + 1)}
    first_calls = fake.calls()["clustercert_total"]
    for i, (fault, _, _) in enumerate(cases, 1):
        fake.fault(i, fault, sticky=True)

    daemon = Daemon(d, config, journal=journal)
    time.sleep(WINDOW)
    status = daemon.stop(timeout=30)
    check("the daemon ran every fault and stopped cleanly (exit 0)", status == 0, daemon.log())
    requests = fake.control("/_fake/requests")[first_calls:]
    total = len(requests)
    # Each cluster has about WINDOW seconds; the backoff allows at most one call a second.
    check(f"no tight loop: {total} calls for {len(cases)} clusters in {WINDOW} s",
          total <= len(cases) * (WINDOW + 1), total)
    code, rows, _ = status_states(config)

    for i, (fault, cls, follows) in enumerate(cases, 1):
        name = f"c{i}"
        what = f"{fault} ({name})"
        sent = [r["received"] for r in requests if r["cluster_id"] == cluster_id(i)]
        failures = sorted(journal.find(MESSAGE_ID="faad1cbe13ef47f58daf7b58d61e2040", CCE_CLUSTER=name),
                          key=lambda r: r["_RECEIVED"])
        # An attempt is what was sent up to its failure record (the last one
        # may still be out at the stop): one call, or two when libcurl sent
        # it again after a reused connection closed before any answer.
        bounds = [float("-inf")] + [r["_RECEIVED"] for r in failures] + [float("inf")]
        attempts = [[t for t in sent if a < t <= b] for a, b in zip(bounds, bounds[1:])]
        if not attempts[-1]:
            attempts.pop()
        calls = [a[0] if a else None for a in attempts]
        ok_file = (d / f"kube/{name}").read_bytes() == before[i]
        classes = {r.get("ERROR_CLASS") for r in failures}
        detail = f"calls {[round(t % 100, 2) for t in sent]}; records {[(r.get('ERROR_CLASS'), r.get('NEXT_RENEWAL'), r.get('HTTP_STATUS')) for r in failures]}"
        problems = []
        if not ok_file:
            problems.append("the kubeconfig changed")
        if any(not 1 <= len(a) <= 2 for a in attempts):
            problems.append(f"calls per attempt: {[len(a) for a in attempts]}, want 1 or 2")
        if not failures or classes != {cls}:
            problems.append(f"journal classes {classes}, want {cls}")
        if fault.startswith("status:") and any(r.get("HTTP_STATUS") != fault.split(":")[1] for r in failures):
            problems.append("HTTP_STATUS missing or wrong")
        if follows in ("park", "pause") and len(calls) != 1:
            problems.append(f"{follows}: {len(calls)} calls, want 1")
        if follows == "park" and any(r.get("NEXT_RENEWAL") for r in failures):
            problems.append("parked, yet a next renewal is announced")
        if follows == "pause" and failures and calls[0] and iso(failures[0]["NEXT_RENEWAL"]) < calls[0] + 299:
            problems.append("paused for less than the 5 minutes an access key needs")
        if follows in ("retry",) or follows.startswith("after:"):
            for k, r in enumerate(failures):
                if calls[k] is None:
                    break  # reported above
                if not r.get("NEXT_RENEWAL"):
                    problems.append(f"failure {k + 1}: no next attempt announced")
                    break
                planned = iso(r["NEXT_RENEWAL"])
                # From the call: the answer may take up to the request timeout.
                delay = planned - calls[k]
                if follows.startswith("after:"):
                    low, high = int(follows[6:]) - 1, int(follows[6:]) + REQUEST_TIMEOUT + 1
                else:
                    left = iso(r["CERT_NOT_AFTER"]) - calls[k]
                    low, high = 0, backoff_cap(k + 1, left) + REQUEST_TIMEOUT + 1
                if not (low <= delay <= high):
                    problems.append(f"failure {k + 1}: next attempt in {delay:.1f} s, want {low}..{high}")
                if k + 1 < len(calls) and calls[k + 1] is not None and not planned - 0.05 <= calls[k + 1] <= planned + 5:
                    problems.append(f"call {k + 2} at {calls[k + 1] - planned:+.2f} s from the planned time")
        row = rows.get(name, {})
        want_state = "parked" if follows == "park" else "failing"
        if row.get("state") != want_state or (row.get("last-error") or {}).get("class") != cls:
            problems.append(f"--status says {row.get('state')}, {(row.get('last-error') or {}).get('class')}")
        check(f"{what}: file unchanged, class {cls}, {follows}, {len(sent)} calls in {len(calls)} attempts", not problems,
              "; ".join(problems) + "\n" + detail)
    check("--status: exit 1 (failing and parked clusters, none expired)", code == 1, code)
    check("no temporary files are left", not leftovers(d / "kube"), leftovers(d / "kube"))
    journal.close()
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_hostile_answers]))
