#!/usr/bin/python3
"""The built daemon against the fake cloud, as systemd would run it: the
sd_notify protocol (a NOTIFY_SOCKET listener of our own), renewals of
certificates that live seconds, reloads, stops, backoff kept across
restarts, paused credentials, parked clusters, --once, journal fields
(through a journal socket of our own). Prints TAP. Every wait is bounded."""
import calendar
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import yaml

sys.path.insert(0, os.environ["TESTS_DIR"])
from harness import *  # noqa: E402,F403


# ---- the tests --------------------------------------------------------------

def test_ready_rotation_status(d):
    """READY=1 before any request; 3 clusters with 10 s certificates renewed
    at 50% rotate at least 3 times in 30 s, exactly one call per rotation,
    and every read of every kubeconfig parses; STATUS= follows."""
    fake = Fake(d, day_seconds=10)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, ""), (3, ", merge: true, kubeconfig: " + str(d / "kube/shared"))],
                          extra=f"metrics-file: {d}/metrics.prom")
    seen = {1: set(), 2: set(), 3: set()}
    inodes = {1: set(), 2: set(), 3: set()}
    bad_reads = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for i, path in ((1, d / "kube/c1"), (2, d / "kube/c2"), (3, d / "kube/shared")):
                try:
                    inodes[i].add(path.stat().st_ino)
                    text = path.read_text()
                except FileNotFoundError:
                    continue
                try:
                    doc = yaml.safe_load(text)
                    users = {u["name"]: u["user"]["client-certificate-data"] for u in doc["users"]}
                    seen[i].add(users[f"c{i}"])
                except Exception as e:  # any partial or broken read
                    bad_reads.append(f"{path}: {e}")
            time.sleep(0.05)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    daemon = Daemon(d, config, notify)

    ready = wait_for(lambda: notify.find("READY=1"), 10)
    check("READY=1 is sent", ready, daemon.log())
    wait_for(lambda: fake.calls().get("first_clustercert_at"), 10)
    first_call = fake.calls().get("first_clustercert_at")
    check("READY=1 comes before the first request", ready and first_call and ready[0][0] <= first_call + 0.05,
          f"ready {ready[0][0] if ready else None}, first call {first_call}")
    time.sleep(30)
    stop.set()
    t.join()
    status = daemon.stop()
    check("SIGTERM: exit 0", status == 0, daemon.log())
    # Sent just before the exit: the listener's thread may not have read it yet.
    check("STOPPING=1 is sent", wait_for(lambda: notify.find("STOPPING=1"), 2))
    for i in (1, 2, 3):
        c = fake.count(i)
        check(f"cluster c{i} rotated at least 3 times in 30 s ({c})", c >= 3, daemon.log())

        check(f"cluster c{i}: one API call per rotation ({c} calls, {len(seen[i])} certificates seen)",
              c > 0 and (c == len(seen[i]) or c == len(seen[i]) + 1))
    check("every read of every kubeconfig parsed", not bad_reads, "\n".join(bad_reads[:5]))
    check("each rotation is a new file (no file reused)", all(len(v) >= 3 for v in inodes.values()), inodes)
    keys = files_with_private_keys(d / "kube") + files_with_private_keys(d / "state")
    check("after the rotations only the kubeconfigs hold private keys (kube/, state/)",
          keys == sorted(str(d / "kube" / n) for n in ("c1", "c2", "shared")), keys)
    statuses = [m for _, m in notify.find("STATUS=")]
    check("STATUS= reports the clusters", any("3 clusters: 3 ok, 0 failing, 0 parked; next c" in m for m in statuses),
          "\n".join(statuses[-5:]))
    check("no temporary files are left", not leftovers(d / "kube"), leftovers(d / "kube"))
    try:
        series = parse_metrics((d / "metrics.prom").read_text())
        check("the metrics file parses strictly", True)
    except (ValueError, OSError) as e:
        series = {}
        check("the metrics file parses strictly", False, e)
    for i in (1, 2, 3):
        name = f"c{i}"
        renewals = metric(series, "cce_certd_renewals_total", name=name)
        # A call in flight at the stop was made but not counted as a renewal.
        check(f"metrics: renewals of {name} = API calls ({renewals})", renewals in (fake.count(i), fake.count(i) - 1))
        states = {s: metric(series, "cce_certd_cluster_state", name=name, state=s)
                  for s in ("ok", "pending", "renewing", "failing", "parked", "expired")}
        check(f"metrics: {name} is in exactly one state, ok or renewing", sum(states.values()) == 1
              and (states["ok"] == 1 or states["renewing"] == 1), states)
        nb = metric(series, "cce_certd_certificate_not_before_timestamp_seconds", name=name)
        na = metric(series, "cce_certd_certificate_not_after_timestamp_seconds", name=name)
        check(f"metrics: {name} certificate dates", nb and na and 9 <= na - nb <= 11, (nb, na))
        check(f"metrics: {name} next renewal and last success", metric(series, "cce_certd_next_renewal_timestamp_seconds", name=name)
              and metric(series, "cce_certd_last_success_timestamp_seconds", name=name))
        check(f"metrics: {name}'s series carry its cluster and project ids",
              metric(series, "cce_certd_renewals_total", name=name, cluster_id=cluster_id(i), project_id=PROJECT)
              is not None)
    check("metrics: build_info carries the version",
          metric(series, "cce_certd_build_info", version=run_version()) == 1, [k for k in series if "build" in k[0]])
    check("metrics: no label is called cluster", not any(k == "cluster" for _, labels in series for k, _ in labels))
    notify.close()
    fake.stop()


def test_reload(d):
    """SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1; an unchanged
    configuration makes no call; a broken one keeps the old one running and
    logs FILE:LINE:COLUMN errors; a changed cluster is renewed."""
    fake = Fake(d, day_seconds=3600)  # certificates live an hour: nothing is due
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, "")])
    daemon = Daemon(d, config, notify)
    check("reload: both clusters get their first certificate", wait_for(lambda: fake.calls()["clustercert_total"] == 2, 15))
    wait_for(lambda: notify.find("STATUS=2 clusters: 2 ok"), 5)
    before = fake.calls()["clustercert_total"]
    t0 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    check("SIGHUP: RELOADING=1 with MONOTONIC_USEC",
          wait_for(lambda: [m for _, m in notify.find("RELOADING=1", t0) if "MONOTONIC_USEC=" in m], 5))
    check("SIGHUP: READY=1 after reloading", wait_for(lambda: notify.find("READY=1", t0), 5))
    time.sleep(2)
    check("SIGHUP with an unchanged configuration makes no API call", fake.calls()["clustercert_total"] == before)

    good = config.read_text()
    config.write_text(good.replace("clusters:", "clusters:\n  - {name: broken, colour: blue}", 1))
    t1 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: notify.find("READY=1", t1), 5)
    time.sleep(0.5)
    log = daemon.log()
    check("a broken configuration on SIGHUP: the daemon keeps running", daemon.proc.poll() is None, log)
    check("a broken configuration on SIGHUP: FILE:LINE:COLUMN errors are logged",
          f"<3>{config}:" in log and "unknown key 'colour' in cluster #1" in log, log)
    check("a broken configuration on SIGHUP: the old one stays in force", "previous configuration stays in force" in log, log)

    # Changing one cluster's settings renews that cluster only.
    config.write_text(good.replace(f"kubeconfig: {d}/kube/c2", f"kubeconfig: {d}/kube/c2-moved"))
    t2 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: notify.find("READY=1", t2), 5)
    check("a changed cluster is renewed after the reload", wait_for(lambda: fake.count(2) == 2, 10), daemon.log())
    time.sleep(1)
    check("an unchanged cluster is not", fake.count(1) == 1)
    check("reload: exit 0 on SIGTERM", daemon.stop() == 0, daemon.log())
    notify.close()
    fake.stop()


def test_reload_removes_cluster_in_flight(d):
    """A SIGHUP that removes a cluster whose call is in flight: the call is
    cancelled and the configuration it borrowed freed only once nothing
    uses it (the signal storm found a use after free here)."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, ", credentials: other")])
    fake.fault(2, "hang", sticky=True)
    daemon = Daemon(d, config, notify)
    check("the call of c2 is in flight, c1 renewed", wait_for(lambda: fake.count(2) == 1 and (d / "kube/c1").exists(), 10),
          daemon.log())
    time.sleep(0.2)  # c2's call is the last user of the first configuration
    write_config(d, fake, [(1, "")])
    t0 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    check("the reload without c2 completes", wait_for(lambda: notify.find("READY=1", t0), 10), daemon.log())
    time.sleep(0.5)
    check("the daemon runs on", daemon.proc.poll() is None, daemon.log())
    check("and stops cleanly (exit 0)", daemon.stop() == 0, daemon.log())
    notify.close()
    fake.stop()


TMP_AK, TMP_SK, TMP_TOKEN = "TMPAKEXAMPLE00000001", "TemporarySecretKey000000000000000000000001", "SecurityToken" + "7" * 60
IAM_PASSWORD, STATIC_TOKEN = "IamPassw0rd-Example-0001", "MIIStaticTokenExample" + "9" * 40


def test_every_credential_kind(d):
    """Clusters renewed with each kind of credentials: AK/SK, temporary
    keys, ECS metadata keys, an IAM password, a static token; and a token
    the API refuses. (What they logged is swept for secrets.)"""
    fake = Fake(d, day_seconds=3600, extra_accounts={
        "temporary": {TMP_AK: {"sk": TMP_SK, "token": TMP_TOKEN}},
        "iam_users": [{"domain": "acme", "user": "renewer", "password": IAM_PASSWORD}],
        "tokens": [STATIC_TOKEN]})
    secrets = d / "secrets"
    secrets.mkdir()
    for name, value in (("tmp-ak", TMP_AK), ("tmp-sk", TMP_SK), ("tmp-token", TMP_TOKEN),
                        ("iam-password", IAM_PASSWORD), ("static-token", STATIC_TOKEN),
                        ("refused-token", "MIIRefusedToken" + "5" * 40)):
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o600)
    kinds = {
        "temporary": f"{{access-key: {{file: {secrets}/tmp-ak}}, secret-key: {{file: {secrets}/tmp-sk}}, "
                     f"security-token: {{file: {secrets}/tmp-token}}}}",
        "ecs": f'{{ecs-metadata: {{endpoint: "http://127.0.0.1:{fake.metadata_port}"}}}}',
        "iam": f"{{iam-password: {{domain: acme, user: renewer, password: {{file: {secrets}/iam-password}}}}}}",
        "static": f"{{token: {{file: {secrets}/static-token}}}}",
        "refused": f"{{token: {{file: {secrets}/refused-token}}}}",
    }
    config = write_config(d, fake, [(1, "")] + [(i, f", credentials: {k}") for i, k in enumerate(kinds, 2)])
    text = config.read_text().replace("defaults:\n", f"defaults:\n  iam-endpoint: https://127.0.0.1:{fake.port}\n", 1)
    text = text.replace("credentials:\n", "credentials:\n" + "".join(f"  {k}: {v}\n" for k, v in kinds.items()), 1)
    config.write_text(text)
    journal = Journal(d)
    daemon = Daemon(d, config, journal=journal)
    renewed = wait_for(lambda: all((d / f"kube/c{i}").exists() for i in range(1, 6)), 15)
    check("AK/SK, temporary keys, ECS metadata keys, an IAM password and a token all renew", renewed, daemon.log())
    check("the refused token fails as an authentication error",
          wait_for(lambda: [r for r in journal.find(CCE_CLUSTER="c6") if r.get("ERROR_CLASS") == "authentication"], 10),
          daemon.log())
    check("every kind: exit 0", daemon.stop() == 0, daemon.log())
    calls = fake.calls()
    check("an IAM token and metadata keys were fetched", calls["iam_tokens"] >= 1 and calls["metadata_securitykey"] >= 1,
          calls)
    journal.close()
    fake.stop()


def test_sigterm_during_slow_request(d):
    """SIGTERM while a request hangs: exit 0 quickly, no temporary file, the
    old kubeconfig byte for byte as it was."""
    fake = Fake(d, day_seconds=6)
    notify = Notify(d)
    config = write_config(d, fake, [(1, "")])
    status, err = run_once(config)
    check("--once writes the first kubeconfig", status == 0, err)
    old = (d / "kube/c1").read_bytes()
    time.sleep(6.5)  # the 6 s certificate has expired: the daemon renews at once
    fake.fault(1, "hang", sticky=True)
    daemon = Daemon(d, config, notify)
    check("the daemon calls", wait_for(lambda: fake.count(1) >= 2, 10))
    # The daemon records its requests in flight within a second.
    check("--status while the request hangs: renewing (its certificate expired: exit 2)",
          wait_for(lambda: (lambda code, rows, _: code == 2 and rows["c1"]["state"] == "renewing")(*status_states(config)), 3),
          status_states(config))
    check("--status reads the requests in flight from in-flight.json", (d / "state/in-flight.json").exists())
    t0 = time.time()
    status = daemon.stop()
    took = time.time() - t0
    check(f"SIGTERM during a hanging request: exit 0 ({status}) in {took:.2f} s", status == 0 and took < 3, daemon.log())
    check("the old kubeconfig is intact", (d / "kube/c1").read_bytes() == old)
    check("no temporary files", not leftovers(d / "kube"), leftovers(d / "kube"))
    check("no in-flight.json once stopped", not (d / "state/in-flight.json").exists())
    # What a killed daemon leaves: its requests count only while its pid lives.
    for pid, state in ((os.getpid(), "renewing"), (dead_pid(), "expired")):
        (d / "state/in-flight.json").write_text(json.dumps({"pid": pid, "clusters": ["c1"]}))
        code, rows, _ = status_states(config)
        check(f"in-flight.json of a {'live' if state == 'renewing' else 'dead'} pid: {state}",
              rows["c1"]["state"] == state, rows)
    notify.close()
    fake.stop()


def test_backoff_survives_restart(d):
    """A 429 with Retry-After: 60 is remembered: a restart does not call."""
    fake = Fake(d, day_seconds=10)
    config = write_config(d, fake, [(1, "")])
    fake.fault(1, "status:429:apigw:retry-after=60", sticky=True)
    daemon = Daemon(d, config)
    check("the throttled call is made once", wait_for(lambda: fake.count(1) == 1, 10))
    time.sleep(1)
    daemon.stop()
    st = json.loads((d / "state/clusters/c1.json").read_text())
    check("the state remembers the backoff", st["failures"] == 1 and st["next-attempt"] >= time.time() + 50
          and st["last-error-class"] == "throttled", st)
    daemon = Daemon(d, config)
    time.sleep(3)
    check("after a restart, no call before the stored time", fake.count(1) == 1, daemon.log())
    daemon.stop()
    fake.stop()


def test_auth_pauses_credential_and_404_parks(d):
    """A 401 on one cluster pauses the others of its credential, and those of
    another credential entry with the same access key (shown by --status);
    a 404 parks a cluster (one call, then none, also after an unchanged
    reload)."""
    ak2, sk2 = "HPUAEXAMPLEAK0000002", "ExampleSecretKey00000000000000000000000002"
    fake = Fake(d, day_seconds=12, extra_accounts={"aksk": {AK: SK, ak2: sk2}})
    notify = Notify(d)
    (d / "secrets").mkdir()
    for name, value in (("ak2", ak2), ("sk2", sk2)):
        (d / "secrets" / name).write_text(value + "\n")
        (d / "secrets" / name).chmod(0o600)
    config = write_config(d, fake, [(1, ""), (2, ""), (3, ", credentials: other"), (5, ", credentials: elsewhere"),
                                    (404, "")],
                          extra=f"metrics-file: {d}/metrics.prom",
                          credential_lines=[f"elsewhere: {{access-key: {{file: {d}/secrets/ak2}}, "
                                            f"secret-key: {{file: {d}/secrets/sk2}}}}"])
    status, err = run_once(config, "--cluster", "c2", "--cluster", "c3", "--cluster", "c5")
    check("--once --cluster renews the named clusters", status == 0 and fake.count(2) == 1 and fake.count(3) == 1
          and fake.count(5) == 1 and fake.count(1) == 0, err)
    fake.fault(1, "status:401:apigw", sticky=True)
    daemon = Daemon(d, config, notify)
    check("the 401 arrives", wait_for(lambda: fake.count(1) == 1, 10))
    # c2 (same credential) was due at about 6 s; c3 (another name, the same key) and c5 (another key) too.
    time.sleep(10)
    check("a 401 pauses the other clusters of the credential", fake.count(2) == 1, daemon.log())
    check("... and those of another credential entry with the same access key", fake.count(3) == 1, daemon.log())
    check("clusters of another access key go on", fake.count(5) >= 2, daemon.log())
    _, rows, _ = status_states(config)
    check("--status shows the pause of the same key's other entry", rows["c3"]["paused-until"] is not None
          and rows["c3"]["next-attempt"] == rows["c3"]["paused-until"] and rows["c5"]["paused-until"] is None,
          {k: (r["paused-until"], r["next-attempt"]) for k, r in rows.items()})
    check("the 401 is not retried in a tight loop", fake.count(1) == 1)
    check("the 404 is asked once", fake.count(404) == 1)
    check("STATUS= shows the parked cluster", any("1 parked" in m for _, m in notify.find("STATUS=")))
    log = daemon.log()
    check("the log names the class, status and code",
          "authentication error: HTTP 401, APIGW.0301" in log and "not-found error: HTTP 404, CCE.01404001" in log, log)
    check("the log says what happens next", "every cluster using credentials 'ops' waits until" in log
          and "parked until the configuration changes" in log, log)
    t0 = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: notify.find("READY=1", t0), 5)
    time.sleep(1)
    check("a parked cluster stays parked over an unchanged reload", fake.count(404) == 1)
    daemon.stop()

    series = parse_metrics((d / "metrics.prom").read_text())
    check("metrics: the 401 counted as an authentication failure",
          metric(series, "cce_certd_failures_total", name="c1", **{"class": "authentication"}) == 1
          and metric(series, "cce_certd_consecutive_failures", name="c1") == 1)
    check("metrics: the 404 counted, the cluster parked",
          metric(series, "cce_certd_failures_total", name="c404", **{"class": "not-found"}) == 1
          and metric(series, "cce_certd_cluster_state", name="c404", state="parked") == 1
          and metric(series, "cce_certd_next_renewal_timestamp_seconds", name="c404") is None)

    # --status reads what the daemon left: works while it does not run.
    code, rows, doc = status_states(config)
    # c2 shared the paused credential: its 12 s certificate ran out meanwhile.
    check("--status --json: exit 2 with an expired certificate", code == 2 and doc["exit-status"] == 2, doc)
    check("--status --json: the states", rows["c1"]["state"] == "failing" and rows["c2"]["state"] == "expired"
          and rows["c3"]["state"] == "expired" and rows["c5"]["state"] == "ok" and rows["c404"]["state"] == "parked", rows)
    check("--status --json: the last error of the failing cluster",
          rows["c1"]["last-error"]["class"] == "authentication" and rows["c1"]["last-error"]["http-status"] == 401
          and rows["c1"]["last-error"]["code"] == "APIGW.0301" and rows["c1"]["failures"] == 1, rows["c1"])
    check("--status --json: certificate dates and next attempt of an ok cluster",
          rows["c2"]["not-after"] and rows["c2"]["next-attempt"] and rows["c2"]["seconds-left"] >= 0, rows["c2"])
    code, out, err = run_status(config)
    check("--status: a table with a line per cluster", code == 2 and out.startswith("CLUSTER") and len(out.splitlines()) == 6
          and "parked" in out and "authentication APIGW.0301" in out and "paused: its access key" in out, out + err)
    code, rows, _ = status_states(config, "c1", "c404")
    check("--status NAME...: only those clusters, exit 1 for failing and parked", code == 1 and set(rows) == {"c1", "c404"}, rows)
    code, out, err = run_status(config, "nosuch")
    check("--status with an unknown name: exit 64", code == 64 and "No cluster named nosuch" in err, err)
    notify.close()
    fake.stop()


def test_once(d):
    fake = Fake(d, day_seconds=3600)
    config = write_config(d, fake, [(1, ""), (2, "")])
    code, rows, _ = status_states(config)
    check("--status before anything: every cluster pending, exit 1", code == 1
          and all(r["state"] == "pending" for r in rows.values()), rows)
    status, err = run_once(config)
    check("--once: exit 0 when every cluster is renewed", status == 0 and fake.calls()["clustercert_total"] == 2, err)
    status, err = run_once(config)
    check("--once again: nothing due, no call, exit 0", status == 0 and fake.calls()["clustercert_total"] == 2, err)
    st = json.loads((d / "state/clusters/c1.json").read_text())
    check("the state records which file version was written", st["kubeconfig-identity"].count(":") == 3, st)
    # The dates come from the state only while the file is the one written:
    # a file changed behind the daemon's back is read again.
    good = (d / "kube/c1").read_bytes()
    (d / "kube/c1").write_bytes(good.replace(b"client-certificate-data: ", b"client-certificate-data: x"))
    status, err = run_once(config)
    check("--once: a kubeconfig changed behind its back is read again, found broken, renewed",
          status == 0 and fake.count(1) == 2 and fake.count(2) == 1, err)
    code, rows, _ = status_states(config)
    check("--status after --once: every cluster ok, exit 0", code == 0 and all(r["state"] == "ok" for r in rows.values()), rows)
    status, err = run_once(config, "--force", "--cluster", "c2")
    check("--once --force --cluster renews that cluster only", status == 0 and fake.count(2) == 2 and fake.count(1) == 2, err)
    before_file = (d / "kube/c1").read_bytes()
    before_state = (d / "state/clusters/c1.json").read_bytes()
    calls = fake.count(1)
    p = subprocess.run([*WRAPPER, DAEMON, "--once", "--dry-run", "--force", "--cluster", "c1", "-c", str(config)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    check("--once --dry-run: exit 0, fetched and checked", p.returncode == 0 and "dry run, nothing written" in p.stdout
          and fake.count(1) == calls + 1, p.stdout + p.stderr)
    check("--once --dry-run: the entries that would change", "user c1: changed (client-certificate-data, client-key-data)"
          in p.stdout and "context c1: unchanged" in p.stdout and "current-context: c1 (unchanged)" in p.stdout, p.stdout)
    check("--once --dry-run: the kubeconfig, data redacted", "client-key-data: REDACTED" in p.stdout
          and "LS0t" not in p.stdout, p.stdout)
    check("--once --dry-run: the file and the state are untouched", (d / "kube/c1").read_bytes() == before_file
          and (d / "state/clusters/c1.json").read_bytes() == before_state)
    fake.fault(1, "status:503:cce")
    status, err = run_once(config, "--force")
    check("--once: exit 1 when a cluster fails", status == 1 and "transient error: HTTP 503" in err, err)
    status, err = run_once(config, "--cluster", "nosuch")
    check("--once --cluster with an unknown name: exit 64", status == 64 and "No cluster named nosuch" in err, err)
    bad = d / "bad.yaml"
    bad.write_text("clusters: [\n")
    status, err = run_once(bad)
    check("--once with a bad configuration: exit 78", status == 78, err)
    fake.stop()


def test_merge_writes_batched(d):
    """30 clusters merged into one file, all due at once: written together
    (one lock, read and replacement for the answers that came meanwhile),
    every entry there, every cluster's state naming the file version that
    holds its certificate. With 16 requests in flight the answers pile up
    while the daemon writes; with 2 they would not, and the daemon waits
    three times as long as its last write took before the next one."""
    n = 30
    for parallel, most in ((16, n - 1), (2, n // 3)):
        sub = d / f"parallel-{parallel}"
        sub.mkdir()
        fake = Fake(sub, day_seconds=3600)
        shared = sub / "kube/shared"
        config = write_config(sub, fake, [(i, f", merge: true, kubeconfig: {shared}") for i in range(1, n + 1)],
                              extra=f"parallel-requests: {parallel}")
        status, err = run_once(config)
        check(f"parallel {parallel}: --once renews all 30 into the shared file",
              status == 0 and fake.calls()["clustercert_total"] == n, err)
        doc = yaml.load(shared.read_text(), Loader=YAML_LOADER)
        check(f"parallel {parallel}: every cluster's entries are in it", sorted(c["name"] for c in doc["clusters"]) ==
              sorted(f"c{i}" for i in range(1, n + 1)), [c["name"] for c in doc["clusters"]])
        identities = {json.loads((sub / f"state/clusters/c{i}.json").read_text())["kubeconfig-identity"]
                      for i in range(1, n + 1)}
        # Each replacement makes a new inode: one identity per write.
        check(f"parallel {parallel}: {len(identities)} writes for {n} clusters (at most {most})",
              1 <= len(identities) <= most, identities)
        fake.stop()


def test_once_single_attempt(d):
    """--once makes one attempt per cluster, even when the backoff would
    allow a retry before the pass ends: c1's certificate has 3 s left, so its
    retry delay is 1 s, while c2 answers after 4 s."""
    fake = Fake(d, day_seconds=4)
    config = write_config(d, fake, [(1, ""), (2, "")])
    status, err = run_once(config)
    check("--once writes two 4 s certificates", status == 0, err)
    fake.fault(1, "status:503:cce", sticky=True)
    fake.fault(2, "slow:4")
    status, err = run_once(config, "--force")
    check("--once: exit 1 when one of them fails", status == 1, err)
    check(f"--once: a single attempt for the failing cluster ({fake.count(1) - 1})", fake.count(1) == 2, err)
    fake.stop()


HOOK_SCRIPT = """#!/bin/sh
# Records how it was called: argument count and arguments, and the environment.
out="$1"
{
    echo "ARGC=$#"
    for a in "$@"; do echo "ARG=$a"; done
    env | grep -E '^(CCE_|KUBECONFIG|CERT_|OLD_CERT|RESULT|ERROR_CLASS|NOTIFY_SOCKET|WATCHDOG|CREDENTIALS_DIRECTORY)' | sort
} > "$out.$$.tmp" && mv "$out.$$.tmp" "$out.$RESULT.$CCE_CLUSTER"
env > "$out.environment.$RESULT.$CCE_CLUSTER"  # all of it, for the secrets sweep
"""


def test_hooks(d):
    """on-renew and on-failure run without a shell, in the background, with
    their environment and without the daemon's; a failing or hanging hook is
    logged, shown by --status, and never undoes the renewal; --once waits."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    hook = d / "hook.sh"
    hook.write_text(HOOK_SCRIPT)
    hook.chmod(0o755)
    failing = d / "fail.sh"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    out = d / "hook-out"
    # A hook that starts a child and waits for it: the timeout kills both.
    spawner, child_pid = d / "spawner.sh", d / "child.pid"
    spawner.write_text('#!/bin/sh\nsleep 300 &\necho $! > "$1"\nwait\n')
    spawner.chmod(0o755)
    config = write_config(d, fake, [
        (1, f', on-renew: [{hook}, {out}, "two words"], on-failure: [{hook}, {out}]'),
        (2, f", on-renew: [{failing}]"),
        (3, ", on-renew: [/bin/sleep, '30']"),
        (4, f", on-failure: [{hook}, {out}]"),
        (5, f", on-renew: [{spawner}, {child_pid}]"),
    ], extra="hook-timeout: 1s")
    fake.fault(4, "status:503:cce", sticky=True)
    env = {"WATCHDOG_USEC": "60000000", "CREDENTIALS_DIRECTORY": str(d)}
    daemon = Daemon(d, config, notify, env=env)
    renewed = pathlib.Path(f"{out}.renewed.c1")
    failed = pathlib.Path(f"{out}.failed.c4")
    check("the on-renew hook ran", wait_for(renewed.exists, 10), daemon.log())
    check("the on-failure hook ran", wait_for(failed.exists, 10), daemon.log())
    check("the hanging hook is killed after hook-timeout",
          wait_for(lambda: "on-renew hook /bin/sleep ran longer than 1s and was killed" in daemon.log(), 10), daemon.log())
    check("the failing hook is logged", wait_for(lambda: "on-renew hook " + str(failing) + " exited with status 3; the renewal itself stands."
                                                 in daemon.log(), 10), daemon.log())
    killed = wait_for(lambda: f"on-renew hook {spawner} ran longer than 1s and was killed" in daemon.log(), 10)
    pid = int(child_pid.read_text()) if child_pid.exists() else 0

    def gone():
        try:
            os.kill(pid, 0)
            return pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
        except ProcessLookupError:
            return True
    check("a hook killed after hook-timeout takes what it started with it (its process group)",
          killed and pid > 0 and wait_for(gone, 5), (pid, daemon.log()))
    if pid > 0 and not gone():
        os.kill(pid, signal.SIGKILL)  # ours, started by the hook of this test
    status = daemon.stop()
    check("hooks: exit 0 on SIGTERM", status == 0, daemon.log())

    r = renewed.read_text() if renewed.exists() else ""
    check("on-renew: arguments passed as given, no shell splitting", "ARGC=2\n" in r and "ARG=two words\n" in r, r)
    check("on-renew: its environment", "CCE_CLUSTER=c1\n" in r and f"CCE_CLUSTER_ID={cluster_id(1)}\n" in r
          and f"KUBECONFIG={d}/kube/c1\n" in r and "RESULT=renewed\n" in r and re.search(r"CERT_NOT_AFTER=\d{4}-", r)
          and "OLD_CERT_NOT_AFTER=\n" in r and "ERROR_CLASS=\n" in r, r)
    check("on-renew: none of the daemon's own variables", "NOTIFY_SOCKET" not in r and "WATCHDOG" not in r
          and "CREDENTIALS_DIRECTORY" not in r, r)
    f = failed.read_text() if failed.exists() else ""
    check("on-failure: RESULT and ERROR_CLASS", "RESULT=failed\n" in f and "ERROR_CLASS=transient\n" in f and "CCE_CLUSTER=c4\n" in f, f)
    check("a failing hook does not undo the renewal", (d / "kube/c2").exists() and (d / "kube/c3").exists())
    code, rows, _ = status_states(config)
    check("--status shows the failed hooks", rows["c2"]["last-hook-error"] and "status 3" in rows["c2"]["last-hook-error"]
          and "killed" in (rows["c3"]["last-hook-error"] or ""), rows)
    check("--status: no hook error where hooks worked", rows["c1"]["last-hook-error"] is None, rows["c1"])

    # --once waits for the hooks it started.
    renewed.unlink()
    status, err = run_once(config, "--force", "--cluster", "c1")
    check("--once runs on-renew and waits for it", status == 0 and renewed.exists(), err)
    notify.close()
    fake.stop()


def test_watchdog_and_journal(d):
    """WATCHDOG_USEC makes the daemon ping; journal records carry the
    fields and message ids."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    journal = Journal(d)
    config = write_config(d, fake, [(1, "")])
    stderr_file = d / "journal-stderr"
    stderr_file.touch()
    st = os.stat(stderr_file)
    env = {"WATCHDOG_USEC": "200000", "CCE_CERTD_JOURNAL_SOCKET": journal.path,
           "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    e = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
    e.update(env)
    e["NOTIFY_SOCKET"] = notify.path
    with open(stderr_file, "w") as err:
        proc = subprocess.Popen([DAEMON, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=e)
        renewed = wait_for(lambda: [r for r in journal.records if r.get("MESSAGE_ID") == "2240c8e19fe143009cbcac427c0387e5"], 10)
        time.sleep(1.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    pings = notify.find("WATCHDOG=1")
    check(f"watchdog pings with WATCHDOG_USEC=200ms ({len(pings)} in the run)", len(pings) >= 5)
    check("a 'renewed' journal record", renewed, journal.records)
    if renewed:
        r = renewed[0]
        for field in ("CCE_CLUSTER", "CCE_CLUSTER_ID", "KUBECONFIG_PATH", "CERT_NOT_AFTER", "NEXT_RENEWAL", "REQUEST_ID",
                      "PRIORITY", "SYSLOG_IDENTIFIER"):
            check(f"the record has {field}", r.get(field), r)
        check("CCE_CLUSTER names the cluster", r.get("CCE_CLUSTER") == "c1")
    started = [r for r in journal.records if r.get("MESSAGE_ID") == "b6c698692d794207bfdd08cc72bc81b5"]
    check("a 'started' journal record", started)
    check("nothing went to stderr while the journal was there", stderr_file.read_text() == "", stderr_file.read_text())
    everything = json.dumps(journal.records) + "".join(m for _, m in notify.messages)
    check("no secret in any journal record or notification", SK not in everything and AK not in everything)
    journal.close()
    notify.close()
    fake.stop()


def test_once_beside_the_daemon_costs_no_extra_call(d):
    """--once --force --cluster c1 beside the running daemon writes a newer
    certificate; when the daemon's renewal of the old one comes, it sees the
    file changed, adopts the newer certificate (journal, its MESSAGE_ID,
    NEXT_RENEWAL from it) and asks for none; it renews on the new schedule.
    For a file of its own, and for a file shared with c2 (merge: true),
    which the daemon itself rewrites meanwhile."""
    for merge in (False, True):
        sub = d / ("merged" if merge else "own")
        sub.mkdir()
        once_beside_the_daemon(sub, merge)


def once_beside_the_daemon(d, merge):
    what = "shared file" if merge else "own file"
    fake = Fake(d, day_seconds=20)
    notify = Notify(d)
    journal = Journal(d)
    shared = f", kubeconfig: {d}/kube/shared, merge: true" if merge else ""
    config = write_config(d, fake, [(1, shared), (2, shared)])
    daemon = Daemon(d, config, notify, journal=journal)
    try:
        check(f"{what}: " "READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        wait_for(lambda: fake.count(1) == 1 and fake.count(2) == 1, 10)
        time.sleep(3)
        code, err = run_once(config, "--force", "--cluster", "c1")
        once_at = time.time()
        check(f"{what}: " "--once --force --cluster c1 beside the daemon: exit 0, one call", code == 0 and fake.count(1) == 2,
              err + str(fake.calls()))
        # The daemon's renewal of the first certificate was due 9.5-10 s after it.
        adopted = wait_for(lambda: journal.find(MESSAGE_ID="2b5a942c055e4f819fef8e6e9c1ea471", CCE_CLUSTER="c1"), 12)
        check(f"{what}: " "the daemon adopted the newer certificate (journal, MESSAGE_ID)", adopted, daemon.log())
        check(f"{what}: " "... and asked for no certificate of c1 (2 calls: its own, the --once's)", fake.count(1) == 2,
              fake.calls())
        if adopted:
            nxt = adopted[0].get("NEXT_RENEWAL", "")
            due = calendar.timegm(time.strptime(nxt, "%Y-%m-%dT%H:%M:%SZ")) if nxt else 0
            check(f"{what}: " "NEXT_RENEWAL is planned from the new certificate (about 10 s after the --once)",
                  once_at + 7 <= due <= once_at + 12, (nxt, once_at))
        check(f"{what}: " "c2 (untouched) was renewed on its schedule", wait_for(lambda: fake.count(2) >= 2, 5), fake.calls())
        check(f"{what}: " "c1 is renewed on the new schedule", wait_for(lambda: fake.count(1) == 3, 10), fake.calls())
    finally:
        daemon.stop()
        journal.close()
        notify.close()
        fake.stop()


def test_once_metrics_and_in_flight(d):
    """--once alone writes the metrics file (a timer-based setup exports
    something); beside the daemon it leaves the daemon's in-flight.json (its
    pid) alone, and the metrics file to the daemon."""
    fake = Fake(d, day_seconds=600)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, "")], extra=f"metrics-file: {d}/metrics.prom")
    try:
        code, err = run_once(config)
        check("--once alone: exit 0", code == 0, err)
        try:
            series = parse_metrics((d / "metrics.prom").read_text())
        except (OSError, ValueError) as e:
            series = {}
            err += str(e)
        check("--once alone writes the metrics file, both clusters in it",
              any(('name', 'c1') in labels for _, labels in series) and
              any(('name', 'c2') in labels for _, labels in series), err)
        check("--once writes no in-flight.json", not (d / "state/in-flight.json").exists())
        code, err = run_once(config)
        check("--once with nothing due writes it too", code == 0 and (d / "metrics.prom").exists(), err)
        daemon = Daemon(d, config, notify)
        try:
            check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
            in_flight = d / "state/in-flight.json"
            check("the running daemon names itself in in-flight.json",
                  wait_for(lambda: in_flight.exists() and json.loads(in_flight.read_text())["pid"] == daemon.proc.pid,
                           3), daemon.log())
            code, err = run_once(config, "--force", "--cluster", "c1")
            check("--once --force beside the daemon: exit 0", code == 0, err)
            check("... and the daemon's in-flight.json is still there, its own",
                  in_flight.exists() and json.loads(in_flight.read_text())["pid"] == daemon.proc.pid)
        finally:
            daemon.stop()
    finally:
        notify.close()
        fake.stop()


def test_expiry_escalation_and_clock_skew(d):
    """While renewals keep failing, priority rises as expiry nears: notice,
    then warning under a third of the lifetime, error when it expires soon,
    critical once expired; each crossing logged once with its message id, and
    STATUS= says so. And an API clock 10 minutes off is warned about."""
    fake = Fake(d, day_seconds=16, skew_seconds=600)
    journal = Journal(d)
    notify = Notify(d)
    config = write_config(d, fake, [(1, "")])
    status, err = run_once(config)
    check("--once writes a 16 s certificate", status == 0, err)
    check("an API clock 10 minutes off is warned about", "is +600s off ours: check NTP here" in err
          or "is +599s off ours" in err or "is +601s off ours" in err, err)
    fake.fault(1, "status:503:cce", sticky=True)
    stderr_file = d / "stderr"
    stderr_file.touch()
    st = os.stat(stderr_file)
    e = dict(os.environ, CCE_CERTD_JOURNAL_SOCKET=journal.path, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}",
             NOTIFY_SOCKET=notify.path)
    with open(stderr_file, "w") as f:
        proc = subprocess.Popen([DAEMON, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=f, env=e)
        wait_for(lambda: [r for r in journal.records if r.get("MESSAGE_ID") == "f50d433bb9fe426f884832211cbbcb7f"], 30)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    failed = [r for r in journal.records if r.get("MESSAGE_ID") == "faad1cbe13ef47f58daf7b58d61e2040"]
    priorities = [int(r["PRIORITY"]) for r in failed]
    check(f"failures are logged with rising priority ({priorities})",
          len(priorities) >= 3 and priorities == sorted(priorities, reverse=True) and priorities[0] == 5
          and priorities[-1] == 2 and 4 in priorities and 3 in priorities)
    for message_id, priority, what in (("4e38e8ff57d54bebb9587f021b1477ab", "4", "a third left"),
                                       ("5237f0b4055748a29b0977ebd4315ded", "3", "expiring soon"),
                                       ("f50d433bb9fe426f884832211cbbcb7f", "2", "expired")):
        records = [r for r in journal.records if r.get("MESSAGE_ID") == message_id]
        check(f"'{what}' is logged once, at priority {priority}", len(records) == 1 and records[0]["PRIORITY"] == priority,
              records)
    statuses = [m for _, m in notify.find("STATUS=")]
    check("STATUS= escalates: expires in ..., then EXPIRED",
          any("c1: expires in" in m for m in statuses) and any("c1: EXPIRED, transient error" in m for m in statuses),
          "\n".join(statuses))
    check("failures carry HTTP_STATUS and CCE_ERROR_CODE",
          failed and failed[0].get("HTTP_STATUS") == "503" and failed[0].get("CCE_ERROR_CODE", "").startswith("CCE."), failed[:1])
    check("retries are bounded: no tight loop", fake.count(1) < 30, fake.count(1))
    code, rows, _ = status_states(config)
    check("--status: an expired certificate, exit 2", code == 2 and rows["c1"]["state"] == "expired", rows)
    notify.close()
    journal.close()
    fake.stop()


def main():
    return run_tests([test_once_beside_the_daemon_costs_no_extra_call, test_once_metrics_and_in_flight, test_ready_rotation_status, test_reload, test_reload_removes_cluster_in_flight,
                      test_every_credential_kind, test_sigterm_during_slow_request,
                      test_backoff_survives_restart, test_auth_pauses_credential_and_404_parks, test_once,
                      test_merge_writes_batched, test_once_single_attempt, test_hooks, test_watchdog_and_journal,
                      test_expiry_escalation_and_clock_skew])


if __name__ == "__main__":
    sys.exit(main())
