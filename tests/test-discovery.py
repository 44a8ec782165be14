#!/usr/bin/python3
"""Discovery against the fake cloud: a discover entry keeps a kubeconfig for
every Available cluster of a project that its filters take, none for the
others, follows clusters made and woken while it runs, forgets one only
after two listings without it and a 404, and changes nothing when a listing
fails. Prints TAP."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.environ["TESTS_DIR"])
from harness import *  # noqa: E402,F403

INTERVAL = 5  # the shortest interval allowed


def make(fake, *clusters):
    fake.control("/_fake/clusters", {"project_id": PROJECT, "clusters": [
        {"cluster_id": cluster_id(i), "name": name, **({"phase": phase} if phase else {})}
        for i, name, phase in clusters]})


def discover_config(d, fake, entry_lines):
    path = write_config(d, fake, [])
    text = path.read_text().replace("clusters:\n", "clusters: []\ndiscover:\n" +
                                    "".join(f"  {line}\n" for line in entry_lines))
    path.write_text(text)
    return path


def test_lifecycle(d):
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "prod-a", None), (2, "prod-b", "Hibernation"), (3, "dev-c", None))
    config = discover_config(d, fake, [
        f"- project-id: {PROJECT}",
        f"  kubeconfig: {d}/kube/{{name}}.kubeconfig",
        "  match: [prod-*]",
        f"  interval: {INTERVAL}s",
    ])
    journal = Journal(d)
    daemon = Daemon(d, config, notify, journal=journal)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("an Available cluster that the filter takes is written at once",
              wait_for(lambda: (d / "kube/prod-a.kubeconfig").exists() and fake.count(1) == 1, 10), daemon.log())
        renewed = wait_for(lambda: [r for r in journal.find(CCE_CLUSTER="prod-a")
                                    if r["MESSAGE"].startswith("Renewed prod-a")], 5)
        check("its journal record names the discover entry and the project",
              renewed and renewed[0].get("CCE_DISCOVERED_BY") == "1" and renewed[0].get("CCE_PROJECT_ID") == PROJECT,
              renewed)
        check("STATUS= counts the discovered clusters, and those CCE does not call Available",
              wait_for(lambda: notify.find("2 clusters: 1 ok, 0 failing, 0 parked; 2 discovered by 1 entry, "
                                           "1 not Available in CCE"), 5), notify.messages[-3:])
        time.sleep(1)
        check("... one call", fake.count(1) == 1, fake.calls())
        check("one in Hibernation is not renewed", fake.count(2) == 0 and not (d / "kube/prod-b.kubeconfig").exists())
        check("one the filter leaves out is not renewed", fake.count(3) == 0 and not (d / "kube/dev-c.kubeconfig").exists())
        listed = fake.calls()["list"].get(PROJECT, 0)
        check("the project was listed", listed >= 1, fake.calls())
        code, rows, _ = status_states(config, "--json")
        check("--status shows the discovered clusters, where from and their CCE phase",
              code == 0 and set(rows) == {"prod-a", "prod-b"} and
              rows["prod-a"]["state"] == "ok" and rows["prod-a"]["discovered-by"] == 1 and
              rows["prod-a"]["cce-phase"] == "Available" and
              rows["prod-b"]["state"] == "unavailable" and rows["prod-b"]["cce-phase"] == "Hibernation",
              (code, rows))

        # Woken, and a new one: both written at the next listing.
        make(fake, (2, "prod-b", "Available"), (4, "prod-d", None))
        check("a cluster woken is written at the next listing",
              wait_for(lambda: (d / "kube/prod-b.kubeconfig").exists(), INTERVAL + 10), daemon.log())
        check("a cluster made is written at the next listing",
              wait_for(lambda: (d / "kube/prod-d.kubeconfig").exists(), INTERVAL + 10), daemon.log())
        check("... one call each", fake.count(2) == 1 and fake.count(4) == 1, fake.calls())

        # A listing that fails changes nothing.
        fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["status:503:cce"]})
        check("a failed listing is logged",
              wait_for(lambda: "Listing the clusters of project" in daemon.log(), INTERVAL + 10), daemon.log())
        check("... and keeps the clusters", (d / "kube/prod-a.kubeconfig").exists() and fake.count(1) == 1)

        # Deleted: forgotten after two listings without it and a 404, its own file and state removed.
        check("prod-d has a state", (d / "state/clusters/prod-d.json").exists())
        fake.control("/_fake/clusters/delete", {"project_id": PROJECT, "cluster_id": cluster_id(4)})
        check("a deleted cluster is forgotten after two listings and a 404",
              wait_for(lambda: "is gone from project" in daemon.log(), 4 * INTERVAL + 20), daemon.log())
        check("... asked about once", fake.calls()["show"].get(cluster_id(4), 0) >= 1, fake.calls())
        check("... its own kubeconfig is removed, and the log says so",
              not (d / "kube/prod-d.kubeconfig").exists() and
              f"its kubeconfig {d}/kube/prod-d.kubeconfig is removed" in daemon.log(), daemon.log())
        check("... its state is forgotten", not (d / "state/clusters/prod-d.json").exists())
        gone = journal.find(MESSAGE_ID="f6fd272badf241d6939a8c992e01d461")
        check("... its record names the cluster, the project and the file",
              gone and gone[0].get("CCE_CLUSTER") == "prod-d" and gone[0].get("CCE_PROJECT_ID") == PROJECT and
              gone[0].get("KUBECONFIG_PATH") == f"{d}/kube/prod-d.kubeconfig", gone)
        check("... no lock or new file left beside it", sorted(p.name for p in (d / "kube").iterdir()) ==
              ["prod-a.kubeconfig", "prod-b.kubeconfig"], list((d / "kube").iterdir()))
        check("no call to it after it was deleted", fake.count(4) == 1, fake.calls())
        check("the others were never asked about",
              all(fake.calls()["show"].get(cluster_id(i), 0) == 0 for i in (1, 2, 3)), fake.calls())

        # Renamed in CCE: its file follows the new name, the old one goes once the new one is written.
        make(fake, (1, "prod-renamed", None), (2, "prod-b", "Available"), (3, "dev-c", None))
        check("a renamed cluster is written under its new name",
              wait_for(lambda: (d / "kube/prod-renamed.kubeconfig").exists(), INTERVAL + 10), daemon.log())
        # The file goes first, then the record is sent, then the state: each waited for.
        check("... and its earlier file is removed",
              wait_for(lambda: not (d / "kube/prod-a.kubeconfig").exists() and
                       "prod-renamed was renamed in CCE from prod-a: removed its earlier kubeconfig" in daemon.log(), 5),
              daemon.log())
        check("... its earlier state too", wait_for(lambda: not (d / "state/clusters/prod-a.json").exists(), 5) and
              (d / "state/clusters/prod-renamed.json").exists())
        check("... the new file is whole and for the new name",
              "current-context: prod-renamed" in (d / "kube/prod-renamed.kubeconfig").read_text())
    finally:
        status = daemon.stop()
        check("the daemon exits 0", status == 0, daemon.log())
        notify.close()
        journal.close()
        fake.stop()


def test_reload(d):
    """SIGHUP with the entry unchanged changes nothing; with its filter
    changed, the change applies at once (at the listing the reload starts)."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "prod-a", None), (3, "dev-c", None))
    entry = [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig", "  match: [prod-*]",
             "  interval: 1h"]
    config = discover_config(d, fake, entry)
    config.write_text(config.read_text() + f"metrics-file: {d}/metrics.prom\n")

    def renewals():
        try:
            return metric(parse_metrics((d / "metrics.prom").read_text()), "cce_certd_renewals_total", name="prod-a")
        except (OSError, ValueError):
            return None

    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("prod-a written, and counted", wait_for(lambda: fake.count(1) == 1 and renewals() == 1, 10), daemon.log())
        series = parse_metrics((d / "metrics.prom").read_text())
        check("the metrics say which entry found it, and its CCE phase",
              metric(series, "cce_certd_discovered_cluster_info", name="prod-a", entry="1", cce_phase="Available") == 1,
              [k for k in series if "info" in k[0]])
        hangup = time.time()
        daemon.proc.send_signal(signal.SIGHUP)
        check("reloaded", wait_for(lambda: notify.find("READY=1", since=hangup), 10), daemon.log())
        time.sleep(2)
        # A cluster dropped and made again would start counting from 0.
        check("an unchanged entry: the cluster kept as it was, nothing renewed again",
              fake.count(1) == 1 and renewals() == 1 and (d / "kube/prod-a.kubeconfig").exists(),
              (fake.calls(), renewals()))
        config.write_text(config.read_text().replace("match: [prod-*]", "match: [prod-*, dev-*]"))
        hangup = time.time()
        daemon.proc.send_signal(signal.SIGHUP)
        check("reloaded again", wait_for(lambda: notify.find("READY=1", since=hangup), 10), daemon.log())
        check("a changed filter applies at once, without waiting for the interval",
              wait_for(lambda: fake.count(3) == 1 and (d / "kube/dev-c.kubeconfig").exists(), 10), daemon.log())
        check("prod-a still not renewed again", fake.count(1) == 1, fake.calls())
    finally:
        status = daemon.stop()
        check("the daemon exits 0", status == 0, daemon.log())
        notify.close()
        fake.stop()


def test_restart(d):
    """What the listings found is kept in the state directory: a restart has
    the discovered clusters before any listing (here every listing fails),
    scheduled from their files, with no new certificate."""
    fake = Fake(d, day_seconds=3600)
    make(fake, (1, "prod-a", None), (2, "prod-b", "Hibernation"))
    config = discover_config(d, fake, [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig",
                                       "  interval: 1h"])
    config.write_text(config.read_text() + f"metrics-file: {d}/metrics.prom\n")

    def states():
        try:
            series = parse_metrics((d / "metrics.prom").read_text())
        except (OSError, ValueError):
            return {}
        return {labels["name"]: labels["state"] for (n, lab), v in series.items()
                for labels in [dict(lab)] if n == "cce_certd_cluster_state" and v == 1}

    notify = Notify(d)
    daemon = Daemon(d, config, notify)
    try:
        check("first run: prod-a written", wait_for(lambda: fake.count(1) == 1, 10), daemon.log())
        check("... what it found is saved", wait_for(lambda: (d / "state/discovered.json").exists(), 5))
    finally:
        check("first run exits 0", daemon.stop() == 0, daemon.log())
        notify.close()

    fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["status:503:cce"], "sticky": True})
    (d / "metrics.prom").unlink()
    (d / "second").mkdir()
    notify = Notify(d / "second")
    daemon = Daemon(d, config, notify)
    try:
        check("second run: READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("... with the discovered clusters known though no listing works",
              wait_for(lambda: states() == {"prod-a": "ok", "prod-b": "unavailable"}, 5), (states(), daemon.log()))
        check("... the listing failed", wait_for(lambda: "Listing the clusters of project" in daemon.log(), 10),
              daemon.log())
        time.sleep(1)
        check("... and no new certificate was asked for", fake.count(1) == 1 and fake.count(2) == 0, fake.calls())
        check("... nor said to be", "renewing when CCE says it is Available" in daemon.log() and
              "prod-b.kubeconfig does not exist; renewing now" not in daemon.log(), daemon.log())
    finally:
        check("second run exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_stop_while_listing(d):
    """SIGTERM while a listing hangs: the call is abandoned, the daemon exits 0."""
    fake = Fake(d, day_seconds=3600, hang_seconds=30)
    notify = Notify(d)
    make(fake, (1, "prod-a", None))
    fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["hang"]})
    config = discover_config(d, fake, [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig"])
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("the listing is under way", wait_for(lambda: fake.calls()["list"].get(PROJECT, 0) == 1, 10), fake.calls())
        time.sleep(0.5)
    finally:
        status = daemon.stop()
        check("the daemon exits 0 with the listing in flight", status == 0, (status, daemon.log()))
        notify.close()
        fake.stop()


def test_paused_credentials(d):
    """A key refused for a renewal pauses the listings that use it too: no
    listing with it before the pause ends (5 failures lock an access key)."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    # prod-b is not Available: no renewal of it with the same key, whose
    # success would rightly end the pause (the key works) and let listings go on.
    make(fake, (2, "prod-b", "Hibernation"))
    fake.fault(1, "status:401:apigw")
    path = write_config(d, fake, [(1, "")])
    path.write_text(path.read_text() + "discover:\n" + "".join(f"  {line}\n" for line in [
        f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig", f"  interval: {INTERVAL}s"]))
    daemon = Daemon(d, path, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("c1's renewal is refused", wait_for(lambda: "Renewal of c1 failed" in daemon.log(), 10), daemon.log())
        # The first listing may have started before the pause: let it arrive.
        wait_for(lambda: fake.calls()["list"].get(PROJECT, 0) >= 1, 5)
        listed = fake.calls()["list"].get(PROJECT, 0)
        time.sleep(2 * INTERVAL + 2)
        check("no listing with the paused key meanwhile", fake.calls()["list"].get(PROJECT, 0) == listed,
              (listed, fake.calls()))
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_collisions(d):
    """Two projects each with a cluster "dup", both named {name}: both are
    left out once both are known, neither overwrites the other's file, and
    the log says so; a cluster whose name is unique is taken."""
    other = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "dup", None), (3, "only-here", None))
    fake.control("/_fake/clusters", {"project_id": other, "clusters": [{"cluster_id": cluster_id(2), "name": "dup"}]})
    config = discover_config(d, fake, [
        f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig",
        f"- project-id: {other}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig"])
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("a cluster with a name of its own is taken", wait_for(lambda: fake.count(3) == 1, 10), fake.calls())
        check("the two that would share a name are both left out, and said so",
              wait_for(lambda: f"Discovered cluster dup ({cluster_id(1)}) would have the same name as discovered "
                       f"cluster dup ({cluster_id(2)})" in daemon.log() and
                       f"Discovered cluster dup ({cluster_id(2)}) would have the same name as discovered "
                       f"cluster dup ({cluster_id(1)})" in daemon.log(), 10), daemon.log())
        time.sleep(1)
        # The listing that came first may have written its "dup" before the
        # other listing showed the clash; the other never writes over it.
        check("... the other never writes over the first", fake.count(1) + fake.count(2) <= 1, fake.calls())
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_merged_file(d):
    """Every discovered cluster in one merged file beside someone's entries:
    a deleted cluster's entries are taken out and nothing else; a renamed
    one's entries are replaced in the same write."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "prod-a", None), (2, "prod-b", None))
    merged = d / "kube/all.kubeconfig"
    merged.parent.mkdir(parents=True, exist_ok=True)
    merged.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: theirs\n  cluster: {server: 'https://theirs:6443'}\n"
                      "users:\n- name: theirs\n  user: {token: abc}\n"
                      "contexts:\n- name: theirs\n  context: {cluster: theirs, user: theirs}\ncurrent-context: theirs\n")
    config = discover_config(d, fake, [f"- project-id: {PROJECT}", f"  kubeconfig: {merged}", "  merge: true",
                                       f"  interval: {INTERVAL}s"])
    daemon = Daemon(d, config, notify)

    def names(kind):
        text = merged.read_text()
        return {line.split("name: ", 1)[1] for line in text.split(f"\n{kind}:\n", 1)[1].split("\n")
                if line.startswith("- name: ")} if f"\n{kind}:\n" in text else set()
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("both written into the one file",
              wait_for(lambda: names("clusters") == {"theirs", "prod-a", "prod-b"}, 10), daemon.log())
        merged.chmod(0o640)
        fake.control("/_fake/clusters/delete", {"project_id": PROJECT, "cluster_id": cluster_id(2)})
        # (Diagnostics name entries only: the file holds keys.)
        check("a deleted cluster's entries are taken out",
              wait_for(lambda: "is gone from project" in daemon.log(), 4 * INTERVAL + 20) and
              names("clusters") == {"theirs", "prod-a"} and names("users") == {"theirs", "prod-a"} and
              names("contexts") == {"theirs", "prod-a"}, (daemon.log(), names("clusters"), names("contexts")))
        check("... the log says so", f"its entries are taken out of {merged}" in daemon.log(), daemon.log())
        check("... the file has the configured mode again (other keys are in it), someone's entries and current context",
              merged.stat().st_mode & 0o777 == 0o600 and "token: abc" in merged.read_text() and
              "current-context: theirs" in merged.read_text(), oct(merged.stat().st_mode))
        make(fake, (1, "prod-renamed", None))
        check("a renamed cluster's entries are replaced in one write",
              wait_for(lambda: names("clusters") == {"theirs", "prod-renamed"}, INTERVAL + 10) and
              names("contexts") == {"theirs", "prod-renamed"}, (daemon.log(), names("clusters"), names("contexts")))
        check("... and the log says so", wait_for(lambda: "prod-renamed was renamed in CCE from prod-a: took its "
                                                  "earlier entries out of" in daemon.log(), 5), daemon.log())
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_explicit_and_listing_401(d):
    """A cluster under clusters: that a listing also holds keeps its
    explicit settings (discovery skips its id); a 401 on a listing pauses
    the credentials: a kubeconfig of the same key deleted meanwhile is not
    restored with a call until the pause ends."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "prod-a", None), (2, "prod-b", None))
    path = write_config(d, fake, [(1, "")])
    path.write_text(path.read_text() + f"metrics-file: {d}/metrics.prom\ndiscover:\n" + "".join(
        f"  {line}\n" for line in [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig",
                                   f"  interval: {INTERVAL}s"]))
    daemon = Daemon(d, path, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("the configured cluster and the other discovered one are written",
              wait_for(lambda: (d / "kube/c1").exists() and (d / "kube/prod-b.kubeconfig").exists(), 10), daemon.log())
        time.sleep(1)
        check("... the configured one once, under its own name and file only",
              fake.count(1) == 1 and not (d / "kube/prod-a.kubeconfig").exists(), fake.calls())
        code, rows, _ = status_states(path, "--json")
        check("--status: the configured cluster as configured, not discovered",
              set(rows) == {"c1", "prod-b"} and rows["c1"]["discovered-by"] is None and
              rows["prod-b"].get("discovered-by") == 1, rows)

        fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["status:401:apigw"], "sticky": True})
        check("a listing refused with 401 is logged",
              wait_for(lambda: "Listing the clusters of project" in daemon.log() and "401" in daemon.log(),
                       INTERVAL + 10), daemon.log())
        (d / "kube/c1").unlink()
        time.sleep(4)
        check("... and pauses the key: a kubeconfig of it deleted is not restored with a call",
              fake.count(1) == 1 and not (d / "kube/c1").exists(), (fake.calls(), daemon.log()))
        series = parse_metrics((d / "metrics.prom").read_text())
        check("... its metrics say the credentials are paused",
              metric(series, "cce_certd_credential_paused", name="c1", credential="ops") == 1,
              [k for k in series if "paused" in k[0]])
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_empty_listing(d):
    """Listings that suddenly hold no cluster remove nothing: each cluster is
    asked about (ShowCluster), CCE still has it, it stays with its file."""
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    make(fake, (1, "prod-a", None), (2, "prod-b", None))
    config = discover_config(d, fake, [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig",
                                       f"  interval: {INTERVAL}s"])
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("both written", wait_for(lambda: fake.count(1) == 1 and fake.count(2) == 1 and
                                       (d / "kube/prod-b.kubeconfig").exists(), 10), daemon.log())
        listed = fake.calls()["list"].get(PROJECT, 0)
        fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["empty-list"], "sticky": True})
        check("three empty listings",
              wait_for(lambda: fake.calls()["list"].get(PROJECT, 0) >= listed + 3, 4 * INTERVAL + 10), fake.calls())
        check("... each cluster was asked about",
              wait_for(lambda: all(fake.calls()["show"].get(cluster_id(i), 0) >= 1 for i in (1, 2)), 5), fake.calls())
        time.sleep(1)
        check("... and nothing was removed", "is gone from project" not in daemon.log() and
              (d / "kube/prod-a.kubeconfig").exists() and (d / "kube/prod-b.kubeconfig").exists(), daemon.log())
        code, rows, _ = status_states(config, "--json")
        check("... both still kept", set(rows) == {"prod-a", "prod-b"}, rows)
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def test_once(d):
    """--once lists each project, then renews what is due (no daemon ever
    ran: nothing saved); --dry-run says what the listing would add and what
    is not in it, and writes nothing; a failed listing: the pass goes on
    with the clusters known, exit 1."""
    fake = Fake(d, day_seconds=3600)
    make(fake, (1, "prod-a", None), (2, "prod-b", "Hibernation"))
    config = discover_config(d, fake, [f"- project-id: {PROJECT}", f"  kubeconfig: {d}/kube/{{name}}.kubeconfig"])

    p = subprocess.run([*WRAPPER, DAEMON, "--once", "--dry-run", "-c", str(config)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    check("--once --dry-run: exit 0", p.returncode == 0, p.stdout + p.stderr)
    check("... says what the listing would add, with where and the phase",
          f"discover #1 (project {PROJECT}): would add prod-a ({cluster_id(1)}, Available), kubeconfig "
          f"{d}/kube/prod-a.kubeconfig" in p.stdout and
          f"would add prod-b ({cluster_id(2)}, Hibernation)" in p.stdout, p.stdout)
    check("... fetches and checks the Available one, writes nothing",
          "== prod-a: a certificate valid until" in p.stdout and fake.count(1) == 1 and fake.count(2) == 0 and
          not (d / "kube/prod-a.kubeconfig").exists() and not (d / "state/discovered.json").exists(), p.stdout)

    status, err = run_once(config)
    check("--once lists, then renews what is due: exit 0", status == 0 and fake.count(1) == 2 and
          (d / "kube/prod-a.kubeconfig").exists() and fake.count(2) == 0, err)
    check("... no notice that it does not list", "does not list" not in err, err)
    listed = fake.calls()["list"].get(PROJECT, 0)
    check("... one listing per pass", listed == 2, fake.calls())

    # What a daemon's listings found, then a --once whose listing fails.
    (d / "state").mkdir(exist_ok=True)
    notify = Notify(d)
    daemon = Daemon(d, config, notify)
    try:
        check("a daemon saves what it found", wait_for(lambda: (d / "state/discovered.json").exists(), 10), daemon.log())
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
    fake.control("/_fake/clusters/delete", {"project_id": PROJECT, "cluster_id": cluster_id(1)})
    make(fake, (3, "prod-c", None))
    p = subprocess.run([*WRAPPER, DAEMON, "--once", "--dry-run", "-c", str(config)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    check("--once --dry-run: one not in the listing is said to go only after another listing and a 404",
          p.returncode == 0 and f"prod-a ({cluster_id(1)}) is not in this listing; it would go after another "
          "listing without it and a 404 from CCE" in p.stdout and "would add prod-c" in p.stdout and
          "would add prod-a" not in p.stdout, p.stdout)
    check("... and its file is kept", (d / "kube/prod-a.kubeconfig").exists())
    fake.control("/_fake/faults", {"cluster_id": f"list:{PROJECT}", "faults": ["status:503:cce"], "sticky": True})
    make(fake, (1, "prod-a", None))  # back: its renewal works (the listing still fails)
    before = fake.count(1)
    status, err = run_once(config, "--force")
    check("--once with the listing failing: exit 1, said so", status == 1 and "Listing the clusters of project" in err
          and "this pass takes the clusters the daemon's listings found" in err, err)
    check("... the clusters the daemon found are renewed all the same", fake.count(1) == before + 1, (fake.calls(), err))
    fake.stop()


def main():
    return run_tests([test_lifecycle, test_reload, test_restart, test_stop_while_listing, test_paused_credentials,
                      test_collisions, test_merged_file, test_explicit_and_listing_401, test_empty_listing, test_once])


if __name__ == "__main__":
    sys.exit(main())
