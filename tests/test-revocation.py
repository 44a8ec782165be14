#!/usr/bin/python3
"""Revocation against the fake cloud (issue 23): `--revoke` on one, several
and all clusters, own and merged files, proved by a real mutual-TLS
handshake with kubectl (the old certificate refused, the new one taken);
revoke-previous over several rotations with at most one valid certificate
at any time; a SIGKILL between the revocation and the write, then one call
and no second revocation; revocations refused (403, 404, 400, 503) and a
mint refused after a revocation; --dry-run making no call; an agency's
identity with ECS metadata keys. Prints TAP."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

REVOKED = "add16ce08d924c13b0758d3b8318ed26"
NOT_REVOKED = "f185d29ef3644c208833707cd05abc33"
AGENCY_ID = "0fa1ce5e9a8b4c0d8e7f6a5b4c3d2e1f"  # the fake's default


def run_revoke(config, *args, timeout=60):
    p = subprocess.run([*WRAPPER, DAEMON, "--revoke", "-c", str(config), *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def handshake(kubeconfig, context):
    """What the cluster's API server (the fake's stand-in) says to kubectl
    with this kubeconfig's certificate: "ok", "refused" (401) or the error."""
    cache = pathlib.Path(kubeconfig).parent / "kubectl-cache"  # not in $HOME
    p = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--context", context, "--request-timeout", "10s",
                        "--cache-dir", str(cache), "get", "--raw", "/version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if p.returncode == 0 and "gitVersion" in p.stdout:
        return "ok"
    if "Unauthorized" in p.stderr or "logged in" in p.stderr:
        return "refused"
    return p.stderr.strip()[-300:]


def revocations(fake, i=None):
    return [r for r in fake.control("/_fake/revocations") if i is None or r["cluster_id"] == cluster_id(i)]


def revoke_calls(fake, i):
    return fake.calls()["revoke"].get(cluster_id(i), 0)


def test_revoke_command(d):
    """--revoke: one cluster with its own file, two merged into one file,
    then all; the old certificates refused by the API server, the new ones
    taken; the other clusters untouched."""
    fake = Fake(d, day_seconds=3600)
    merged = d / "kube/shared"
    config = write_config(d, fake, [(0, ""), (1, f", kubeconfig: {merged}, merge: true"),
                                    (2, f", kubeconfig: {merged}, merge: true")])
    status, err = run_once(config)
    check("--once writes the three clusters", status == 0, err)
    old = d / "old"
    old.mkdir()
    for name in ("c0", "shared"):
        (old / name).write_bytes((d / "kube" / name).read_bytes())
        (old / name).chmod(0o600)
    check("before: the certificates work",
          [handshake(old / "c0", "c0"), handshake(old / "shared", "c1"), handshake(old / "shared", "c2")] == ["ok"] * 3)

    code, out, err = run_revoke(config)
    check("--revoke without --cluster or --all: usage error (64)", code == 64 and "--all" in err, (code, err))
    calls_before = fake.calls()
    code, out, err = run_revoke(config, "--all", "--dry-run")
    calls_after = fake.calls()
    check("--revoke --dry-run: exit 0, says what it would revoke for each cluster",
          code == 0 and out.count("would revoke every certificate of user") == 3 and "the CN of the certificate" in out,
          (code, out, err))
    check("--revoke --dry-run makes no call at all",
          calls_after["clustercert_total"] == calls_before["clustercert_total"] and calls_after["revoke"] == {}
          and calls_after["connections"] == calls_before["connections"] + 1,  # this look
          (calls_before, calls_after))

    code, out, err = run_revoke(config, "--cluster", "c0")
    (d / "revoke-c0.out").write_text(out + err)
    check("--revoke --cluster c0: exit 0", code == 0, (code, out, err))
    rev = revocations(fake)
    issued = fake.issued()
    check("one revocation, of c0, for the user that downloaded its certificate",
          len(rev) == 1 and rev[0]["cluster_id"] == cluster_id(0) and rev[0]["kind"] == "user"
          and issued[0]["identity"] == f"user {rev[0]['id']}", (rev, issued[:1]))
    newest = [i for i in issued if i["cluster_id"] == cluster_id(0)][-1]
    check("it prints what was revoked (whose, how found), the new serial and dates, and the file",
          f"user {rev[0]['id']}" in out and "the CN of the certificate in" in out
          and newest["serial"].upper().lstrip("0") in out.upper() and f"written to {d}/kube/c0" in out, out)
    check("after: c0's old certificate is refused, its new one taken",
          (handshake(old / "c0", "c0"), handshake(d / "kube/c0", "c0")) == ("refused", "ok"))
    check("after: the other clusters' certificates still work",
          (handshake(old / "shared", "c1"), handshake(old / "shared", "c2")) == ("ok", "ok"))
    code, states, _ = status_states(config)
    check("--status: c0 ok, its last revocation shown",
          states["c0"]["state"] == "ok" and states["c0"]["revocation"]["last-revocation"], states.get("c0"))

    code, out, err = run_revoke(config, "--cluster", "c1", "--cluster", "c2")
    check("--revoke of two clusters of one merged file: exit 0, both written",
          code == 0 and out.count(f"written to {merged}") + out.count(f"already in {merged}") == 2, (code, out, err))
    check("after: both old certificates of the merged file refused, both new taken",
          [handshake(old / "shared", "c1"), handshake(old / "shared", "c2"),
           handshake(merged, "c1"), handshake(merged, "c2")] == ["refused", "refused", "ok", "ok"])

    code, out, err = run_revoke(config, "--all")
    check("--revoke --all: exit 0, three revocations more", code == 0 and len(revocations(fake)) == 6, (code, out, err))
    valid = fake.control("/_fake/valid")
    check("after --revoke --all: one valid certificate per cluster, the one in the file",
          all(len(valid.get(cluster_id(i), [])) == 1 for i in range(3)), valid)
    check("no key material in what --revoke printed", "PRIVATE KEY" not in out + err and "LS0t" not in out + err)
    fake.stop()


def test_revoke_beside_daemon(d):
    """--revoke beside a running daemon: the daemon takes the new
    certificates from the files, with no call of its own, and its status
    agrees."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    config = write_config(d, fake, [(0, ""), (1, "")], extra=f"metrics-file: {d}/metrics.prom")
    daemon = Daemon(d, config, notify)
    check("the daemon writes both clusters", wait_for(lambda: fake.calls()["clustercert_total"] == 2 and
                                                      (d / "kube/c1").exists(), 10), daemon.log())
    time.sleep(1)
    code, out, err = run_revoke(config, "--all")
    check("--revoke --all beside the daemon: exit 0", code == 0, (code, out, err))
    total = fake.calls()["clustercert_total"]
    newest = {i["cluster_id"]: i["not_after"] for i in fake.issued()}
    check("the daemon's metrics show the new certificates",
          wait_for(lambda: all(metric(parse_metrics((d / "metrics.prom").read_text()),
                                      "cce_certd_certificate_not_after_timestamp_seconds", name=f"c{i}")
                               == int(newest[cluster_id(i)]) for i in range(2)), 5))
    time.sleep(2)
    check("and it made no call of its own", fake.calls()["clustercert_total"] == total == 4
          and fake.calls()["revoke"] == {cluster_id(0): 1, cluster_id(1): 1}, fake.calls())
    check("both files work", [handshake(d / f"kube/c{i}", f"c{i}") for i in range(2)] == ["ok", "ok"])
    check("exit 0 on SIGTERM", daemon.stop() == 0, daemon.log())
    notify.close()
    fake.stop()


def test_locked_write_superseded(d):
    """The daemon's write of a fetched certificate waits for a lock (kubectl's,
    or a --revoke's), and meanwhile someone writes a newer certificate of the
    cluster (a --revoke, whose revocation ends the one the daemon holds): the
    daemon takes the newer one and never writes its own over it."""
    fake = Fake(d, day_seconds=3600)
    journal = Journal(d)
    config = write_config(d, fake, [(0, "")])
    daemon = Daemon(d, config, journal=journal)
    check("the daemon writes c0", wait_for(lambda: (d / "kube/c0").exists(), 10), daemon.log())
    time.sleep(0.5)
    lock = d / "kube/c0.lock"
    lock.write_text("")  # as kubectl takes it
    (d / "kube/c0").unlink()
    blocked = wait_for(lambda: [r for r in journal.find(CCE_CLUSTER="c0") if "locked" in r.get("MESSAGE", "")], 10)
    check("its restore is fetched, and its write waits for the lock", blocked and fake.count(0) == 2, daemon.log())
    time.sleep(1.2)  # a later notBefore (whole seconds)
    # Someone else, holding the lock: a newer certificate of c0 into the file.
    other = d / "other"
    other.mkdir()
    text = config.read_text().replace(f"{d}/state", f"{other}/state").replace(f"{d}/kube/c0", f"{other}/c0")
    (other / "config.yaml").write_text(text)
    status, err = run_once(other / "config.yaml", "--force")
    check("another run fetches a newer certificate", status == 0, err)
    os.rename(other / "c0", d / "kube/c0")
    newer = certificate_of(d / "kube/c0")
    lock.unlink()
    adopted = wait_for(lambda: journal.find(CCE_CLUSTER="c0", MESSAGE_ID="2b5a942c055e4f819fef8e6e9c1ea471"), 10)
    check("the daemon adopts the newer certificate when the lock goes", adopted, daemon.log())
    time.sleep(1)
    check("and never writes the one it held over it", certificate_of(d / "kube/c0") == newer and fake.count(0) == 3,
          fake.count(0))
    daemon.stop()
    journal.close()
    fake.stop()


def certificate_of(path):
    import yaml
    doc = yaml.safe_load(path.read_text())
    return doc["users"][0]["user"]["client-certificate-data"]


def test_revoke_identity_given(d):
    """The file gone: --user-id names the identity; without it the
    revocation fails (exit 3) and a new certificate is still written."""
    fake = Fake(d, day_seconds=3600)
    config = write_config(d, fake, [(0, "")])
    check("--once writes c0", run_once(config)[0] == 0)
    user = fake.issued()[0]["identity"].split()[1]
    (d / "kube/c0").unlink()
    code, out, err = run_revoke(config, "--cluster", "c0")
    check("file gone, no id given: exit 3 (not revoked), a new certificate written",
          code == 3 and "NOT revoked" in out and "--user-id" in out + err and (d / "kube/c0").exists(), (code, out, err))
    check("no revocation call without an identity", revoke_calls(fake, 0) == 0)
    (d / "kube/c0").unlink()
    code, out, err = run_revoke(config, "--cluster", "c0", "--user-id", user)
    rev = revocations(fake, 0)
    check("--user-id: exit 0, revoked as that user",
          code == 0 and len(rev) == 1 and rev[0] == {**rev[0], "kind": "user", "id": user}, (code, out, err, rev))
    code, out, err = run_revoke(config, "--cluster", "c0", "--user-id", "no/such id")
    check("--user-id with what is no IAM id: usage error", code == 64, (code, err))
    fake.stop()


def test_revoke_failures(d):
    """Revocations refused: 403 (no permission), 404, 400 (a cluster version
    without revocation), 503; each reported, exit 3, the new certificate
    still written, the revocation not tried again. A mint refused after a
    revocation: exit 1, the cluster critical in --status until a daemon
    renews it at once, with no second revocation."""
    fake = Fake(d, day_seconds=3600)
    config = write_config(d, fake, [(0, "")])
    check("--once writes c0", run_once(config)[0] == 0)
    for fault in ("status:403", "status:404", "status:400", "status:503", "hang"):
        before_calls, before_issued = revoke_calls(fake, 0), len(fake.issued())
        fake.control("/_fake/faults", {"cluster_id": "revoke:" + cluster_id(0), "faults": [fault]})
        code, out, err = run_revoke(config, "--cluster", "c0")
        check(f"revoke {fault}: exit 3, 'NOT revoked', a new certificate written, one revocation call",
              code == 3 and "NOT revoked" in out and len(fake.issued()) == before_issued + 1
              and revoke_calls(fake, 0) == before_calls + 1, (code, out, err))
        code, states, _ = status_states(config)
        check(f"revoke {fault}: --status says the previous certificate was not revoked",
              states["c0"]["revocation"]["previous-not-revoked"] and states["c0"]["state"] != "revoked", states["c0"])

    fake.fault(0, "status:503")
    before_calls = revoke_calls(fake, 0)
    code, out, err = run_revoke(config, "--cluster", "c0")
    check("mint 503 after a revocation: exit 1, 'NO new certificate'", code == 1 and "NO new certificate" in out,
          (code, out, err))
    code, states, _ = status_states(config)
    check("--status: c0 revoked, exit 2 (critical)", code == 2 and states["c0"]["state"] == "revoked", (code, states["c0"]))
    check("its file's certificate is refused", handshake(d / "kube/c0", "c0") == "refused")
    notify = Notify(d)
    journal = Journal(d)
    mints = fake.count(0)
    daemon = Daemon(d, config, notify, journal=journal, env={"CCE_CERTD_LOG_LEVEL": "debug"})
    renewed = wait_for(lambda: handshake(d / "kube/c0", "c0") == "ok", 15, step=0.5)
    check("a daemon started then renews c0 at once", renewed, daemon.log())
    check("with one call and no second revocation", fake.count(0) == mints + 1 and revoke_calls(fake, 0) == before_calls + 1,
          (fake.count(0), mints))
    check("--status: c0 ok again", wait_for(lambda: status_states(config)[1]["c0"]["state"] == "ok", 5),
          status_states(config)[1]["c0"])
    daemon.stop()
    notify.close()
    journal.close()
    fake.stop()


def test_revoke_previous(d):
    """revoke-previous: true over several rotations: each rotation revokes
    before it mints, so that at most one certificate of the identity is
    valid at any time (sampled from the fake's record); the first has
    nothing to revoke. A revocation refused: logged with its message id,
    shown in the metrics, the certificate renewed anyway, not retried. A
    mint refused after a revocation: retried within 10 s."""
    fake = Fake(d, day_seconds=6)
    notify, journal = Notify(d), Journal(d)
    config = write_config(d, fake, [(0, ", revoke-previous: true")], extra=f"metrics-file: {d}/metrics.prom")
    daemon = Daemon(d, config, notify, journal=journal)
    most, samples, end = 0, 0, time.time() + 16
    while time.time() < end:
        most = max(most, len(fake.control("/_fake/valid").get(cluster_id(0), [])))
        samples += 1
        time.sleep(0.1)
    mints, revs = fake.count(0), revocations(fake, 0)
    check("several rotations", mints >= 4, mints)
    check("at most one valid certificate at any time", most == 1, (most, samples))
    check("each rotation after the first revoked first", len(revs) == mints - 1, (len(revs), mints))
    check("each revocation journalled with its message id", len(journal.find(MESSAGE_ID=REVOKED)) == len(revs),
          len(journal.find(MESSAGE_ID=REVOKED)))
    series = parse_metrics((d / "metrics.prom").read_text())
    check("metrics: revocations counted, last revocation time, previous revoked",
          metric(series, "cce_certd_revocations_total", name="c0") >= len(revs) - 1
          and metric(series, "cce_certd_last_revocation_timestamp_seconds", name="c0") > time.time() - 10
          and metric(series, "cce_certd_previous_certificate_not_revoked", name="c0") == 0, series)

    fake.control("/_fake/faults", {"cluster_id": "revoke:" + cluster_id(0), "faults": ["status:403"]})
    revoke_before, mints_before = revoke_calls(fake, 0), fake.count(0)
    got = wait_for(lambda: journal.find(MESSAGE_ID=NOT_REVOKED), 10)
    check("a revocation refused (403): journalled as not revoked", got, daemon.log())
    wait_for(lambda: fake.count(0) > mints_before, 5)
    rec = got[0] if got else {}
    check("its record names the identity and the status", rec.get("HTTP_STATUS") == "403"
          and rec.get("CCE_REVOKED_IDENTITY", "").startswith("user "), rec)
    check("the certificate is renewed anyway, the revocation not retried",
          fake.count(0) == mints_before + 1 and revoke_calls(fake, 0) == revoke_before + 1)
    wait_for(lambda: metric(parse_metrics((d / "metrics.prom").read_text()),
                            "cce_certd_previous_certificate_not_revoked", name="c0") == 1, 3)
    series = parse_metrics((d / "metrics.prom").read_text())
    check("metrics: previous not revoked 1, one revocation failure",
          metric(series, "cce_certd_previous_certificate_not_revoked", name="c0") == 1
          and metric(series, "cce_certd_revocation_failures_total", name="c0") == 1, series)

    # The next rotation revokes (and works); its mint fails: critical until
    # a certificate is written; the first retry within 10 s.
    fake.fault(0, "status:503")
    revoke_before = revoke_calls(fake, 0)
    since = time.time()
    check("the next rotation revokes again", wait_for(lambda: revoke_calls(fake, 0) > revoke_before, 10))
    check("STATUS= says the cluster holds a revoked certificate",
          wait_for(lambda: notify.find("1 REVOKED and not yet renewed", since), 3), notify.messages[-3:])
    check("the metrics say revoked", wait_for(lambda: metric(parse_metrics((d / "metrics.prom").read_text()),
                                                             "cce_certd_cluster_state", name="c0", state="revoked") == 1, 3))
    crit = [r for r in journal.find(CCE_CLUSTER="c0") if r.get("PRIORITY") == "2"]
    check("the journal says so at priority crit", crit and "after its certificates were revoked" in crit[-1]["MESSAGE"],
          crit)
    check("its mint fails, then is retried", wait_for(lambda: len(fake.requests(0)) >= 2 and
                                                       fake.requests(0)[-1]["fault"] is None and
                                                       fake.requests(0)[-2]["fault"] == "status:503", 15))
    reqs = fake.requests(0)
    check("the retry after a revocation comes within 10 s", reqs[-1]["received"] - reqs[-2]["received"] <= 10.5,
          reqs[-2:])
    check("without a second revocation before it", revoke_calls(fake, 0) == revoke_before + 1)
    check("exit 0 on SIGTERM", daemon.stop() == 0, daemon.log())
    notify.close()
    journal.close()
    fake.stop()


def test_kill_between_revoke_and_write(d):
    """SIGKILL after the revocation, while the mint is slow: the state says
    so, --status says revoked (exit 2); a restart asks for one certificate at
    once and does not revoke again."""
    fake = Fake(d, day_seconds=3600)
    config = write_config(d, fake, [(0, ", revoke-previous: true")])
    check("--once writes c0 (nothing to revoke yet)", run_once(config)[0] == 0 and revoke_calls(fake, 0) == 0)
    fake.fault(0, "slow:20")
    p = subprocess.Popen([DAEMON, "--once", "--force", "-c", str(config)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    revoked = wait_for(lambda: len(revocations(fake, 0)) == 1 and fake.count(0) == 2, 10)
    p.send_signal(signal.SIGKILL)
    p.wait()
    check("--once --force with revoke-previous revoked, then began the mint", revoked)
    state = json.loads((d / "state/clusters/c0.json").read_text())
    check("the state records the revocation", state.get("revoke-started", 0) > 0, state)
    code, states, _ = status_states(config)
    check("--status: revoked, exit 2", code == 2 and states["c0"]["state"] == "revoked", (code, states["c0"]))
    fake.clear_faults()
    mints = fake.count(0)
    notify = Notify(d)
    daemon = Daemon(d, config, notify)
    check("a restart renews at once", wait_for(lambda: fake.count(0) == mints + 1 and
                                               handshake(d / "kube/c0", "c0") == "ok", 15, step=0.3), daemon.log())
    time.sleep(1)
    check("with one call and no second revocation", fake.count(0) == mints + 1 and len(revocations(fake, 0)) == 1
          and revoke_calls(fake, 0) == 1)
    state = json.loads((d / "state/clusters/c0.json").read_text())
    check("the state no longer records a revocation under way", state.get("revoke-started") == 0, state)
    daemon.stop()
    notify.close()
    fake.stop()


def test_agency_identity(d):
    """Keys from ECS metadata are an agency's: the revocation is sent as
    agencyId with the CN of the certificate, and it works."""
    fake = Fake(d, day_seconds=3600)
    ecs = f'{{ecs-metadata: {{endpoint: "http://127.0.0.1:{fake.metadata_port}"}}}}'
    config = write_config(d, fake, [(0, ", credentials: ecs, revoke-previous: true")], credential_lines=[f"ecs: {ecs}"])
    check("--once writes c0 with ECS metadata keys", run_once(config)[0] == 0)
    old = d / "old-c0"
    old.write_bytes((d / "kube/c0").read_bytes())
    old.chmod(0o600)
    code, out, err = run_revoke(config, "--cluster", "c0")
    rev = revocations(fake, 0)
    check("--revoke: exit 0, revoked as the agency",
          code == 0 and len(rev) == 1 and rev[0]["kind"] == "agency" and rev[0]["id"] == AGENCY_ID
          and f"agency {AGENCY_ID}" in out, (code, out, err, rev))
    check("the old certificate refused, the new one taken",
          (handshake(old, "c0"), handshake(d / "kube/c0", "c0")) == ("refused", "ok"))
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_revoke_command, test_revoke_beside_daemon, test_locked_write_superseded,
                        test_revoke_identity_given, test_revoke_failures, test_revoke_previous,
                        test_kill_between_revoke_and_write, test_agency_identity]))
