#!/usr/bin/python3
"""SIGKILL of the daemon at random moments across at least 300 renewals,
while a reader checks every read of every kubeconfig: it parses, holds a
certificate that parses and matches its key, and that certificate is one
the fake issued for that cluster (old or new content, never a mix). After
each restart no more than the renewal in flight at the kill is issued
again: every certificate that never reached its file was in flight at a
kill (one per cluster and kill at most), and every other call was due.
Prints TAP."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

CLUSTERS = 24
CERT_SECONDS = 4        # renewed at 50%: each cluster about every 1-2 s
RENEWALS = 300


def test_sigkill_across_renewals(d):
    fake = Fake(d, day_seconds=CERT_SECONDS)
    config = write_config(d, fake, [(i, "") for i in range(1, CLUSTERS + 1)], extra="parallel-requests: 8")
    # duration 1 = 4 s, renew-at 50% (write_config's defaults)
    status, err = run_once(config)
    check(f"{CLUSTERS} kubeconfigs to start with", status == 0, err)
    start_issued = len(fake.issued())
    reader = KubeconfigReader({i: d / f"kube/c{i}" for i in range(1, CLUSTERS + 1)})
    rng = random.Random(os.environ.get("CCE_CERTD_TEST_SEED") or None)
    starts, kills = [], []      # times of the starts and of the SIGKILLs
    deadline = time.time() + 240
    while len(fake.issued()) - start_issued < RENEWALS and time.time() < deadline:
        starts.append(time.time())
        daemon = Daemon(d, config)
        time.sleep(rng.uniform(0.02, 0.7))
        daemon.proc.kill()
        kills.append(time.time())
        daemon.stop()
    renewals = len(fake.issued()) - start_issued
    # A last, orderly run: renews what is due, cleans up what killed writers left.
    daemon = Daemon(d, config)
    time.sleep(3)
    status = daemon.stop()
    stops = kills + [time.time()]  # a SIGTERM abandons calls in flight too
    reader.close()
    check(f"{renewals} renewals across {len(kills)} SIGKILLs (at least {RENEWALS})", renewals >= RENEWALS)
    check(f"every one of {reader.reads} reads parsed, with a certificate that matches its key",
          reader.reads > 1000 and not reader.bad, "\n".join(reader.bad[:10]))
    check("no request was refused: requests cut short by a stop are not half-sent calls",
          fake.calls()["auth_failures"] == 0, fake.calls())
    check("the last run stops cleanly (exit 0)", status == 0, daemon.log())

    issued = fake.issued()
    requests = fake.requests()
    for i in range(1, CLUSTERS + 1):
        reader.seen[i].add(reader.serial_in(d / f"kube/c{i}"))
    # For a failure's post-mortem (kept with the test's artifacts).
    (d / "timeline.json").write_text(json.dumps({
        "starts": starts, "stops": stops, "issued": issued, "requests": requests,
        "seen": {i: sorted(s for s in reader.seen[i] if s) for i in reader.seen}}, indent=1))
    by_serial = {r["serial"]: r for r in issued}
    foreign = [(i, s) for i in reader.seen for s in reader.seen[i]
               if s not in by_serial or by_serial[s]["cluster_id"] != cluster_id(i)]
    check("every certificate read is one the fake issued for that cluster", not foreign, foreign[:5])

    # Certificates issued but never in their file: each must have been in
    # flight at a stop, and no stop may account for two of one cluster. A
    # certificate was in flight at some stop between its request and the
    # cluster's next request (the fake may log a request a moment after the
    # kill that followed its sending). The stops are handed out to each
    # cluster's lost certificates in order, each the earliest one free: that
    # finds a stop for every one of them if any assignment does. (Taking the
    # last stop before the next request instead blamed two on one kill when a
    # run was killed just as it sent its first request again.)
    lost, unexplained, doubled = {}, [], []
    for i in range(1, CLUSTERS + 1):
        cid = cluster_id(i)
        received = sorted(q["received"] for q in requests if q["cluster_id"] == cid)
        used = -1
        for r in issued[start_issued:]:
            if r["cluster_id"] != cid or r["serial"] in reader.seen[i]:
                continue
            nxt = min((t for t in received if t > r["received"]), default=float("inf"))
            window = [k for k, t in enumerate(stops) if r["received"] - 0.1 <= t <= nxt]
            where = f"c{i}: issued at {r['received'] % 1000:.3f}, the cluster's next call at {nxt % 1000:.3f}, " \
                    f"stops at {[round(t % 1000, 3) for t in stops if r['received'] - 2 < t < nxt + 2]}"
            free = [k for k in window if k > used]
            if free:
                used = free[0]
                lost[(used, i)] = r["serial"]
            else:
                (doubled if window else unexplained).append(where)
    check(f"certificates that never reached their file were all in flight at a kill or the last stop ({len(lost)})",
          not unexplained, "\n".join(unexplained[:10]))
    check("at most one of them per cluster and kill", not doubled, "\n".join(doubled[:10]))

    # Every call that did not follow a lost certificate was due: its file's
    # certificate had passed (about) half of its lifetime, less the jitter.
    early = []
    lost_serials = set(lost.values())
    for q in requests[start_issued:]:
        i = int(q["cluster_id"][-12:])
        before = [r for r in issued if r["cluster_id"] == q["cluster_id"] and r["answered"] < q["received"]]
        if not before or before[-1]["serial"] in lost_serials:
            continue
        w = before[-1]
        lifetime = w["not_after"] - w["not_before"]
        due = w["not_before"] + lifetime * 0.45 - 1  # 5% jitter, whole seconds
        if q["received"] < due:
            early.append((f"c{i}", round(q["received"] - due, 2)))
    check("after every restart, nothing else was renewed before it was due", not early, early[:10])
    check("no temporary file or lock is left after the last run", not leftovers(d / "kube"), leftovers(d / "kube"))
    code, rows, _ = status_states(config)
    check("--status reads every state file afterwards", code in (0, 1) and len(rows) == CLUSTERS, rows)
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_sigkill_across_renewals]))
