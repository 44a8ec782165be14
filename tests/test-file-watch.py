#!/usr/bin/python3
"""The running daemon sees what happens to its files (issue 19): kubeconfigs
deleted, emptied, replaced with garbage, stripped of our entries or given a
bad certificate are restored at once with one call (a merged file's other
entries byte for byte as they were); a file deleted again and again costs a
bounded number of calls; a path that can no longer hold the file is
reported, not fought over; a symlinked kubeconfig is watched where it
resolves; a --once beside the daemon costs no extra call and the daemon's
metrics agree with --status soon after it; without inotify the daemon says
so once per directory. Prints TAP."""
import calendar
import os
import shutil
import signal
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

CHANGED = "6934b0ccd6b94e62bdb96453ab97cdb6"
ADOPTED = "2b5a942c055e4f819fef8e6e9c1ea471"
WRITE_FAILED = "c5c33c0bc2084b1198c3e846bbe035ee"
WATCH_UNAVAILABLE = "18d25e6a6ef64adda3d546432e0ad2a8"
FILTER = pathlib.Path(os.environ["TESTS_DIR"]) / "run-with-syscall-filter.py"


def certificate_in(path, name):
    """The client-certificate-data of the user entry name, or None."""
    try:
        doc = yaml.load(path.read_text(), Loader=YAML_LOADER)
        return next(u["user"]["client-certificate-data"] for u in doc["users"] if u["name"] == name)
    except (OSError, yaml.YAMLError, TypeError, KeyError, StopIteration):
        return None


def entry_blocks(text):
    """The text of each entry of a kubeconfig as cce-certd writes it:
    {(section, name): lines}, and the top-level scalars."""
    blocks, section, key = {}, None, None
    for line in text.splitlines():
        if not line.startswith((" ", "-")):
            section, key = line.split(":")[0], None
            blocks[("top", section)] = line if not line.endswith(":") else ""
        elif line.startswith("- name: "):
            key = (section, line[len("- name: "):])
            blocks[key] = line
        elif key:
            blocks[key] += "\n" + line
    return blocks


def without_entries(text, name):
    """text without the cluster, user and context entries named name."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("- name: "):
            skipping = line == f"- name: {name}"
        elif not line.startswith(" "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def metrics_of(d):
    try:
        return parse_metrics((d / "metrics.prom").read_text())
    except (OSError, ValueError):
        return {}


def start(d, clusters, day_seconds=600, extra_config="", wrapper=None):
    fake = Fake(d, day_seconds=day_seconds)
    notify, journal = Notify(d), Journal(d)
    config = write_config(d, fake, clusters, extra=f"metrics-file: {d}/metrics.prom\n{extra_config}")
    daemon = Daemon(d, config, notify, journal=journal, wrapper=wrapper)
    ready = wait_for(lambda: notify.find("READY=1"), 10)
    check("READY=1", ready, daemon.log())
    return fake, notify, journal, config, daemon


def stop(fake, notify, journal, daemon):
    status = daemon.stop()
    check("the daemon exits 0", status == 0, daemon.log())
    journal.close()
    notify.close()
    fake.stop()


def test_restored_at_once(d):
    """Deleted, emptied, garbage, stripped of our entries, a bad certificate,
    and in a merged file our entries removed, and a symlinked kubeconfig
    emptied where it resolves: each restored within 3 s with exactly one
    call, logged (MESSAGE_ID, KUBECONFIG_CHANGE) and counted in the metrics;
    the merged file's other entries byte for byte as they were."""
    merged = d / "kube/merged"
    (d / "kube").mkdir()
    (d / "real").mkdir()
    merged.write_text("apiVersion: v1\nkind: Config\npreferences: {colors: true}\ncurrent-context: mine\n"
                      "clusters:\n- name: mine\n  cluster: {server: 'https://example.invalid:6443'}\n"
                      "users:\n- name: mine\n  user: {token: not-a-secret-of-ours}\n"
                      "contexts:\n- name: mine\n  context: {cluster: mine, user: mine, namespace: team-x}\n")
    link = d / "kube/c8"
    link.symlink_to("../real/c8.yaml")
    (d / "real/c8.yaml").write_text("")  # a symlink that leads nowhere is not written through
    shared = f", kubeconfig: {merged}, merge: true"
    clusters = [(i, "") for i in range(1, 6)] + [(6, shared), (7, shared), (8, "")]
    fake, notify, journal, config, daemon = start(d, clusters)
    try:
        check("every kubeconfig written", wait_for(lambda: all(fake.count(i) == 1 for i in range(1, 9)), 15),
              fake.calls())
        time.sleep(1.5)  # the daemon's own writes are told, and cause nothing
        check("the daemon's own writes cost no call", all(fake.count(i) == 1 for i in range(1, 9)), fake.calls())
        before_merged = merged.read_text()

        bad = "bm90IGEgY2VydGlmaWNhdGU="

        def bad_certificate(p):
            doc = yaml.load(p.read_text(), Loader=YAML_LOADER)
            doc["users"][0]["user"]["client-certificate-data"] = bad
            p.write_text(yaml.safe_dump(doc))
        cases = [
            (1, "deleted", "missing", lambda p: p.unlink()),
            (2, "emptied", "missing", lambda p: open(p, "w").close()),
            (3, "replaced with garbage", "damaged", lambda p: p.write_text("{{{ not: a kubeconfig\n")),
            (4, "stripped of our entries", "missing",
             lambda p: p.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")),
            (5, "given a certificate that does not parse", "damaged", bad_certificate),
            (6, "a merged file stripped of its entries", "missing", lambda p: p.write_text(without_entries(p.read_text(), "c6"))),
            (8, "symlinked, emptied where it resolves", "missing", lambda p: open(d / "real/c8.yaml", "w").close()),
        ]
        for i, what, change, act in cases:
            path = merged if i in (6, 7) else d / f"kube/c{i}"
            old = certificate_in(path, f"c{i}")
            act(path)
            started = time.time()
            restored = wait_for(lambda: certificate_in(path, f"c{i}") not in (None, old, bad), 3)
            took = time.time() - started
            check(f"c{i} {what}: restored within 3 s ({took:.1f} s)", restored, daemon.log())
            time.sleep(0.5)
            check(f"c{i} {what}: with exactly one call", fake.count(i) == 2, fake.calls())
            records = journal.find(MESSAGE_ID=CHANGED, CCE_CLUSTER=f"c{i}")
            check(f"c{i} {what}: logged once, KUBECONFIG_CHANGE={change}",
                  len(records) == 1 and records[0].get("KUBECONFIG_CHANGE") == change, records)
            counted = wait_for(lambda: metric(metrics_of(d), "cce_certd_kubeconfig_changes_total", name=f"c{i}",
                                              change=change) == 1, 3)
            check(f"c{i} {what}: counted in the metrics", counted)
        check("the symlink is still a symlink", link.is_symlink())
        after = entry_blocks(merged.read_text())
        before = entry_blocks(before_merged)
        others = [k for k in before if k[1] not in ("c6",)]
        check("the merged file's other entries, contexts and preferences are byte for byte as they were",
              all(after.get(k) == before[k] for k in others),
              [k for k in others if after.get(k) != before[k]])
        check("c7, in the same file, asked for nothing", fake.count(7) == 1, fake.calls())
        code, rows, _ = status_states(config)
        check("--status: every cluster ok", all(r["state"] == "ok" for r in rows.values()),
              {n: r["state"] for n, r in rows.items()})
    finally:
        stop(fake, notify, journal, daemon)


def test_deleted_again_and_again(d):
    """Deleted ten times in 30 s: at most 8 calls, and present at the end."""
    fake, notify, journal, config, daemon = start(d, [(1, "")])
    path = d / "kube/c1"
    try:
        wait_for(lambda: fake.count(1) == 1 and path.exists(), 10)
        for n in range(10):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            time.sleep(3)
        calls = fake.count(1) - 1
        check(f"ten deletions in 30 s cost at most 8 calls ({calls})", calls <= 8, fake.calls())
        check("the file is there again at the end", wait_for(lambda: certificate_in(path, "c1"), 40), daemon.log())
        check("... with one more call at most", fake.count(1) - 1 <= calls + 1, fake.calls())
        restores = [r.get("NEXT_RENEWAL") for r in journal.find(MESSAGE_ID=CHANGED, CCE_CLUSTER="c1")]
        check("each deletion seen is logged, no more", 1 <= len(restores) <= 10, restores)
    finally:
        stop(fake, notify, journal, daemon)


def test_unwritable_reported(d):
    """The file replaced by a directory, the directory of another removed, and
    a merged file that no longer parses (its other entries cannot be kept):
    one error each (write class), no call and no loop while it lasts, the
    merged file left as it is; when it is undone, restored at once with one
    call (the merged file, back as it was, needs none)."""
    (d / "kube2").mkdir()
    merged = d / "kube/merged"
    fake, notify, journal, config, daemon = start(d, [(1, ""), (2, f", kubeconfig: {d}/kube2/c2"),
                                                      (3, f", kubeconfig: {merged}, merge: true")])
    try:
        wait_for(lambda: all(fake.count(i) == 1 for i in (1, 2, 3)), 10)
        time.sleep(1)
        (d / "kube/c1").unlink()
        (d / "kube/c1").mkdir()
        shutil.rmtree(d / "kube2")
        good = merged.read_text()
        garbage = good.replace("clusters:", "clusters: [", 1)
        merged.write_text(garbage)

        def failed(i):
            return journal.find(MESSAGE_ID=WRITE_FAILED, CCE_CLUSTER=f"c{i}")
        check("each is reported within 3 s", wait_for(lambda: failed(1) and failed(2) and failed(3), 3), daemon.log())
        time.sleep(8)
        causes = {1: "is a directory", 2: "does not exist", 3: "the file is left as it is"}
        for i, what in ((1, "a directory in its place"), (2, "its directory removed"), (3, "merged, unparsable")):
            records = failed(i)
            check(f"c{i}, {what}: the error is of the write class and names the cause",
                  records and records[0].get("ERROR_CLASS") == "write" and causes[i] in records[0]["MESSAGE"], records)
            check(f"c{i}, {what}: no call in 8 s", fake.count(i) == 1, fake.calls())
            check(f"c{i}, {what}: no loop: at most 3 reports in 8 s ({len(records)})", len(records) <= 3)
            check(f"c{i}, {what}: counted unwritable",
                  metric(metrics_of(d), "cce_certd_kubeconfig_changes_total", name=f"c{i}", change="unwritable") == 1)
        check("c3, merged, unparsable: the file is left as it is", merged.read_text() == garbage)
        _, rows, _ = status_states(config)
        check("--status: failing, the file unwritable", all(rows[c]["state"] == "failing" and rows[c]["file"] == "unwritable"
                                                          for c in ("c1", "c2")), rows)
        check("--status: failing, the merged file unreadable", rows["c3"]["state"] == "failing"
              and rows["c3"]["file"] == "unreadable", rows["c3"])
        merged.write_text(good)
        (d / "kube/c1").rmdir()
        (d / "kube2").mkdir()
        for i in (1, 2):
            path = d / ("kube/c1" if i == 1 else "kube2/c2")
            check(f"c{i}: restored within 3 s once undone", wait_for(lambda: certificate_in(path, f"c{i}"), 3),
                  daemon.log())
            check(f"c{i}: with one call", wait_for(lambda: fake.count(i) == 2, 1) and fake.count(i) == 2, fake.calls())
        time.sleep(1)
        _, rows, _ = status_states(config)
        check("c3: the merged file back as it was is taken as it is, no call",
              fake.count(3) == 1 and rows["c3"]["state"] == "ok", (fake.calls(), rows["c3"]))
    finally:
        stop(fake, notify, journal, daemon)


def test_directory_back_with_its_file(d):
    """A kubeconfig's directory moved away before the daemon starts, with the
    file in it (the version the daemon's state names), and moved back while
    it runs: the file is taken as it is within 3 s, without a call."""
    fake = Fake(d, day_seconds=600)
    notify, journal = Notify(d), Journal(d)
    (d / "kube4").mkdir()
    config = write_config(d, fake, [(4, f", kubeconfig: {d}/kube4/c4")])
    code, err = run_once(config)
    check("--once writes the kubeconfig", code == 0 and fake.count(4) == 1, err)
    (d / "kube4").rename(d / "kube4.away")
    daemon = Daemon(d, config, notify, journal=journal)
    try:
        check("the daemon reports the missing directory",
              wait_for(lambda: journal.find(MESSAGE_ID=WRITE_FAILED, CCE_CLUSTER="c4"), 10), daemon.log())
        (d / "kube4.away").rename(d / "kube4")
        check("back with the same file: taken as it is within 3 s",
              wait_for(lambda: status_states(config)[1]["c4"]["state"] == "ok", 3, step=0.2), daemon.log())
        check("... without a call", fake.count(4) == 1, fake.calls())
    finally:
        stop(fake, notify, journal, daemon)


def test_once_beside_the_daemon_repeated(d):
    """--once --force --cluster c1 three times beside the daemon: exactly one
    call each, none extra from the daemon, which adopts each new certificate
    within 2 s and plans its renewal from it (NEXT_RENEWAL)."""
    fake, notify, journal, config, daemon = start(d, [(1, ""), (2, "")], day_seconds=20)
    try:
        wait_for(lambda: fake.count(1) == 1, 10)
        for n in range(1, 4):
            time.sleep(3)
            code, err = run_once(config, "--force", "--cluster", "c1")
            once_at = time.time()
            check(f"--once #{n}: exit 0, one call", code == 0 and fake.count(1) == 1 + n, err + str(fake.calls()))
            adopted = wait_for(lambda: len(journal.find(MESSAGE_ID=ADOPTED, CCE_CLUSTER="c1")) == n, 2)
            check(f"--once #{n}: the daemon adopted its certificate within 2 s", adopted, daemon.log())
            records = journal.find(MESSAGE_ID=ADOPTED, CCE_CLUSTER="c1")
            nxt = records[-1].get("NEXT_RENEWAL", "") if records else ""
            due = calendar.timegm(time.strptime(nxt, "%Y-%m-%dT%H:%M:%SZ")) if nxt else 0
            check(f"--once #{n}: NEXT_RENEWAL is planned from the new certificate (about 10 s after it)",
                  once_at + 7 <= due <= once_at + 12, (nxt, once_at))
        last_once = time.time()
        check("no call from the daemon meanwhile", fake.count(1) == 4, fake.calls())
        renewed = wait_for(lambda: fake.count(1) == 5, 14)
        check("the daemon renews on the new schedule, once", renewed and time.time() >= last_once + 6, fake.calls())
    finally:
        stop(fake, notify, journal, daemon)


def test_metrics_agree_after_once(d):
    """After a --once beside the daemon (failing, then working), the daemon's
    metrics agree with --status within 2 s."""
    fake, notify, journal, config, daemon = start(d, [(1, ""), (2, "")])
    try:
        wait_for(lambda: fake.count(1) == 1 and fake.count(2) == 1, 10)
        time.sleep(1.5)

        def agree(state):
            series = metrics_of(d)
            _, rows, _ = status_states(config)
            row = rows["c1"]
            not_after = calendar.timegm(time.strptime(row["not-after"], "%Y-%m-%dT%H:%M:%SZ")) if row.get("not-after") else None
            return (row["state"] == state and
                    metric(series, "cce_certd_cluster_state", name="c1", state=state) == 1 and
                    metric(series, "cce_certd_certificate_not_after_timestamp_seconds", name="c1") == not_after and
                    metric(series, "cce_certd_consecutive_failures", name="c1") == (row.get("failures") or 0))
        fake.fault(1, "status:503:cce", sticky=True)
        code, err = run_once(config, "--force", "--cluster", "c1")
        check("a failing --once beside the daemon exits non-zero", code != 0, err)
        check("within 2 s the daemon's metrics say failing, as --status does",
              wait_for(lambda: agree("failing"), 2, step=0.2), (daemon.log(), run_status(config)))
        fake.clear_faults()
        code, err = run_once(config, "--force", "--cluster", "c1")
        check("a working --once: exit 0", code == 0, err)
        check("within 2 s the daemon's metrics say ok with the new certificate, as --status does",
              wait_for(lambda: agree("ok"), 2, step=0.2), (daemon.log(), run_status(config)))
    finally:
        stop(fake, notify, journal, daemon)


def test_without_inotify(d):
    """No watch can be added (the limit reached) or no instance made: said
    once per directory (also after a reload), and the daemon still works,
    with the check before each renewal."""
    for syscall, errno_name, expected in (("inotify_add_watch", "ENOSPC", 2), ("inotify_init1", "EMFILE", 1)):
        sub = d / syscall
        sub.mkdir()
        wrapper = ["/usr/bin/python3", str(FILTER), "--fail", f"{syscall}:{errno_name}", "--", *WRAPPER]
        fake, notify, journal, config, daemon = start(sub, [(1, ""), (2, "")], day_seconds=20, wrapper=wrapper)
        try:
            check(f"{syscall} fails with {errno_name}: renewals work", wait_for(lambda: fake.count(1) == 1, 10),
                  daemon.log())
            hangup = time.time()
            daemon.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: notify.find("READY=1", since=hangup), 5)
            time.sleep(1)
            records = journal.find(MESSAGE_ID=WATCH_UNAVAILABLE)
            check(f"{syscall} fails with {errno_name}: said once per directory ({expected}), also after a reload",
                  len(records) == expected and len({r.get("WATCH_DIRECTORY") for r in records}) == expected, records)
            limit = "max_user_watches" if errno_name == "ENOSPC" else "max_user_instances"
            check(f"{syscall} fails with {errno_name}: the message names the limit",
                  records and all(limit in r["MESSAGE"] for r in records), records)
            code, err = run_once(config, "--force", "--cluster", "c1")
            check(f"{syscall} fails with {errno_name}: the check before the renewal adopts a --once's certificate",
                  wait_for(lambda: journal.find(MESSAGE_ID=ADOPTED, CCE_CLUSTER="c1"), 12) and fake.count(1) == 2,
                  daemon.log())
        finally:
            stop(fake, notify, journal, daemon)


def main():
    return run_tests([test_restored_at_once, test_unwritable_reported, test_directory_back_with_its_file,
                      test_once_beside_the_daemon_repeated,
                      test_metrics_agree_after_once, test_without_inotify, test_deleted_again_and_again])


if __name__ == "__main__":
    sys.exit(main())
