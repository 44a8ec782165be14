#!/usr/bin/python3
"""SIGHUP and SIGTERM at random moments while renewals run: single
SIGHUPs, bursts of them, SIGHUPs that add or remove a cluster, and SIGTERMs
followed by a restart. No crash (every exit is 0, also under the
sanitizers), no partial file (a reader checks every read), no lost state
(each state file names the certificate in its kubeconfig), no renewal
before it is due, and the daemon still answers at the end. Prints TAP."""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

CLUSTERS = 12
CERT_SECONDS = 4
STORM_SECONDS = 20


def test_signal_storm(d):
    fake = Fake(d, day_seconds=CERT_SECONDS)
    notify = Notify(d)
    clusters = [(i, "") for i in range(1, CLUSTERS + 1)]
    config = write_config(d, fake, clusters)
    with_all = config.read_text()
    without_last = write_config(d, fake, clusters[:-1]).read_text()
    config.write_text(with_all)
    status, err = run_once(config)
    check(f"{CLUSTERS} kubeconfigs to start with", status == 0, err)
    start_issued = len(fake.issued())
    reader = KubeconfigReader({i: d / f"kube/c{i}" for i in range(1, CLUSTERS + 1)})
    rng = random.Random(os.environ.get("CCE_CERTD_TEST_SEED") or None)
    counts = {"SIGHUP": 0, "burst": 0, "changed": 0, "SIGTERM": 0}
    exits, terms = [], []

    def start():
        # Signals come once it is up, as from systemctl reload or stop.
        t = time.time()
        daemon = Daemon(d, config, notify)
        wait_for(lambda: notify.find("READY=1", t), 10)
        return daemon

    daemon = start()
    end = time.time() + STORM_SECONDS
    while time.time() < end:
        time.sleep(rng.uniform(0.005, 0.3))
        what = rng.random()
        if what < 0.5:
            daemon.proc.send_signal(signal.SIGHUP)
            counts["SIGHUP"] += 1
        elif what < 0.65:
            for _ in range(rng.randint(5, 30)):
                daemon.proc.send_signal(signal.SIGHUP)
            counts["burst"] += 1
        elif what < 0.85:
            # A configuration with or without c12, replaced atomically as an editor would.
            tmp = d / "config.yaml.new"
            tmp.write_text(without_last if config.read_text() == with_all else with_all)
            tmp.rename(config)
            daemon.proc.send_signal(signal.SIGHUP)
            counts["changed"] += 1
        else:
            terms.append(time.time())
            exits.append((daemon.stop(timeout=15), daemon.log()))
            counts["SIGTERM"] += 1
            daemon = start()
    config.write_text(with_all)
    t0 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    ready = wait_for(lambda: notify.find("READY=1", t0), 10)
    check("after the storm, a SIGHUP is still answered with READY=1", ready, daemon.log())
    check("and renewals go on", wait_for(lambda: any(r["received"] > t0 for r in fake.issued()), 10))
    terms.append(time.time())
    exits.append((daemon.stop(timeout=15), daemon.log()))
    reader.close()
    renewals = len(fake.issued()) - start_issued
    check(f"{counts['SIGHUP']} SIGHUPs, {counts['burst']} bursts, {counts['changed']} changed configurations, "
          f"{counts['SIGTERM']} SIGTERMs during {renewals} renewals", renewals >= 50 and counts["SIGTERM"] >= 3,
          counts)
    check("no request was refused: requests cut short by a stop are not half-sent calls",
          fake.calls()["auth_failures"] == 0, fake.calls())
    check(f"every exit was 0 ({len(exits)} exits)", all(e == 0 for e, _ in exits),
          [e for e, _ in exits] + [log for e, log in exits if e != 0])
    check(f"every one of {reader.reads} reads parsed, with a certificate that matches its key",
          reader.reads > 500 and not reader.bad, "\n".join(reader.bad[:10]))
    not_ok = []
    for i in range(1, CLUSTERS + 1):
        try:
            st = json.loads((d / f"state/clusters/c{i}.json").read_text())
        except (OSError, ValueError) as e:
            not_ok.append(f"c{i}: {e}")
            continue
        serial = reader.serial_in(d / f"kube/c{i}")
        cert = next(r for r in fake.issued() if r["serial"] == serial)
        if (st["not-before"], st["not-after"]) != (int(cert["not_before"]), int(cert["not_after"])):
            not_ok.append(f"c{i}: the state says {st['not-before']}..{st['not-after']}, "
                          f"the file holds {cert['not_before']}..{cert['not_after']}")
    check("each state file names the certificate in its kubeconfig", not not_ok, not_ok)
    check("nothing left in flight after the last stop", not (d / "state/in-flight.json").exists())

    # No renewal before it was due, except again after a certificate that
    # was abandoned at a SIGTERM (issued while the daemon stopped).
    issued = fake.issued()
    seen = {s for v in reader.seen.values() for s in v} | {reader.serial_in(d / f"kube/c{i}") for i in range(1, CLUSTERS + 1)}
    early = []
    for q in fake.requests()[start_issued:]:
        before = [r for r in issued if r["cluster_id"] == q["cluster_id"] and r["answered"] < q["received"]]
        if not before:
            continue
        w = before[-1]
        if w["serial"] not in seen:
            if any(w["received"] <= t for t in terms):
                continue  # abandoned at a stop: asked for again
            early.append(f"{q['cluster_id'][-2:]}: after a certificate that never reached its file")
            continue
        due = w["not_before"] + (w["not_after"] - w["not_before"]) * 0.45 - 1
        if q["received"] < due:
            early.append(f"{q['cluster_id'][-2:]}: {q['received'] - due:+.2f} s")
    check("no renewal before it was due", not early, early[:10])
    check("no temporary file or lock is left", not leftovers(d / "kube"), leftovers(d / "kube"))
    notify.close()
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_signal_storm]))
