#!/usr/bin/python3
"""Filesystem faults under the running daemon, one cluster each: a full
disk, a read-only directory, a missing directory, permission denied, the
kubeconfig replaced by a directory, a symlinked kubeconfig, kubectl's .lock
held by a live process, a flock held by a live process, a .lock left by a
dead kubectl and one left by a dead cce-certd. For each: a clear error in
the journal, the file as it was, and once the fault is fixed the very
certificate fetched during the fault is written, without asking the API for
another one. A path that cannot hold a file (its directory missing, a
directory in its place) gets no certificate at all until it is fixed, and
then one at once (the daemon watches the directory above). The daemon runs as nobody (so that permissions apply) in a
mount namespace of this test's own (for the small and the read-only
filesystems). Prints TAP."""
import fcntl
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
RENEWED = "2240c8e19fe143009cbcac427c0387e5"
WRITE_FAILED_CLASS = "write"

# name: (kubeconfig relative to the test directory, the error the journal must name)
CASES = {
    1: ("full/c1", "No space left on device"),
    2: ("ro/c2", "Read-only file system"),
    3: ("missing/c3", "does not exist"),
    4: ("denied/c4", "Permission denied"),
    5: ("kube/c5", "Is a directory"),
    6: ("kube/c6", None),          # a symlink to real/c6.yaml: written through
    7: ("kube/c7", "is locked by another program"),
    8: ("kube/c8", "is locked (flock) by another program"),
    9: ("kube/c9", None),          # a .lock of a dead kubectl (two minutes old)
    10: ("kube/c10", None),        # a .lock of a dead cce-certd (its pid is gone)
}


def sh(*args):
    subprocess.run(args, check=True)


def test_filesystem_faults(d):
    d.chmod(0o755)
    fake = Fake(d, day_seconds=60)
    journal = Journal(d)
    os.chmod(journal.path, 0o777)  # nobody sends to it
    for sub in ("full", "ro", "missing", "denied", "kube", "real", "state"):
        (d / sub).mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(d / "full"))
    sh("mount", "--bind", str(d / "ro"), str(d / "ro"))
    try:
        # Due two seconds after each certificate is issued (renew-before 58 s of 60).
        config = write_config(d, fake, [(i, f", kubeconfig: {d / path}, renew-before: 58s")
                                        for i, (path, _) in CASES.items()])
        for p in [d / "secrets", *(d / "secrets").iterdir(), d / "state", d / "kube", d / "real", d / "full",
                  d / "ro", d / "missing", d / "denied"]:
            os.chown(p, NOBODY, NOBODY)
        p = subprocess.run([*AS_NOBODY, *WRAPPER, DAEMON, "--once", "-c", str(config)], capture_output=True, text=True,
                           timeout=60)
        check("as nobody, --once writes every kubeconfig", p.returncode == 0, p.stderr)
        (d / "kube/c6").rename(d / "real/c6.yaml")
        (d / "kube/c6").symlink_to("../real/c6.yaml")
        before = {i: (d / path).read_bytes() for i, (path, _) in CASES.items()}

        # The faults.
        filler = d / "full/filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 1024):
                pass
        except OSError:
            pass
        os.close(fd)
        sh("mount", "-o", "remount,bind,ro", str(d / "ro"))
        (d / "missing").rename(d / "missing.away")
        os.chown(d / "denied", 0, 0)
        (d / "kube/c5").unlink()
        (d / "kube/c5").mkdir()
        (d / "kube/c7.lock").write_text("")           # kubectl's: empty, fresh
        flock_holder = open(d / "kube/c8")
        fcntl.flock(flock_holder, fcntl.LOCK_EX)
        (d / "kube/c9.lock").write_text("")
        old = time.time() - 120
        os.utime(d / "kube/c9.lock", (old, old))
        (d / "kube/c10.lock").write_text(f"cce-certd {dead_pid()}\n")
        calls_before = {i: len(fake.requests(i)) for i in CASES}

        daemon = Daemon(d, config, journal=journal, wrapper=[*AS_NOBODY, *WRAPPER])
        faulty = [i for i, (_, error) in CASES.items() if error]

        def failed(i):
            return [r for r in journal.find(CCE_CLUSTER=f"c{i}") if r.get("ERROR_CLASS") == WRITE_FAILED_CLASS]
        wait_for(lambda: all(failed(i) for i in faulty), 20)
        # The daemon records which requests are in flight within a second.
        wait_for(lambda: all(status_states(config)[1][f"c{i}"]["state"] == "failing" for i in faulty), 5, step=0.2)
        _, during, _ = status_states(config)
        for i in faulty:
            path, error = CASES[i]
            records = failed(i)
            message = records[0]["MESSAGE"] if records else ""
            check(f"{path}: the write fails with a clear error ({error})", error.lower() in message.lower(), daemon.log())
            unwritable = i in (3, 5)
            if unwritable:
                check(f"{path}: the message says no certificate is asked for until it is fixed",
                      "no certificate is asked for until that is fixed" in message, message)
            else:
                check(f"{path}: the message says the file is unchanged and the certificate kept",
                      "the file is unchanged" in message and "without asking for another certificate" in message, message)
            target = d / path
            if i == 3:
                ok = not (d / "missing").exists()
            elif i == 5:
                ok = target.is_dir() and not any(target.iterdir())
            else:
                ok = target.read_bytes() == before[i]
            check(f"{path}: nothing is lost while the fault lasts", ok)
            calls = len(fake.requests(i)) - calls_before[i]
            if unwritable:
                check(f"{path}: no API call while the path cannot hold a file ({calls})", calls == 0)
            else:
                check(f"{path}: one API call, however often the write is tried ({calls})", calls == 1)
            row = during[f"c{i}"]
            check(f"{path}: --status says failing, and why", row["state"] == "failing"
                  and "writing the kubeconfig failed" in ((row["last-error"] or {}).get("message") or ""), row)
        for i in (6, 9, 10):
            path = CASES[i][0]
            check(f"{path}: renewed at once", wait_for(lambda: journal.find(MESSAGE_ID=RENEWED, CCE_CLUSTER=f"c{i}"), 10),
                  daemon.log())
        check("the symlink stays a symlink, its target is renewed", (d / "kube/c6").is_symlink()
              and (d / "real/c6.yaml").read_bytes() != before[6])
        check("the dead kubectl's and the dead cce-certd's locks are gone",
              not (d / "kube/c9.lock").exists() and not (d / "kube/c10.lock").exists())

        # The fixes.
        fixed_at = time.time()
        filler.unlink()
        sh("mount", "-o", "remount,bind,rw", str(d / "ro"))
        (d / "missing.away").rename(d / "missing")
        os.chown(d / "denied", NOBODY, NOBODY)
        (d / "kube/c5").rmdir()
        (d / "kube/c7.lock").unlink()
        flock_holder.close()
        for i in faulty:
            path = CASES[i][0]
            renewed = wait_for(lambda: journal.find(MESSAGE_ID=RENEWED, CCE_CLUSTER=f"c{i}"), 20)
            check(f"{path}: written once the fault is fixed", renewed, daemon.log())
            if not renewed:
                continue
            # The certificate fetched during the fault is the one written: the
            # fake issued no other before the renewal was logged (for an
            # unwritable path: the one fetched after the fix).
            issued = [r for r in fake.issued() if r["cluster_id"] == cluster_id(i)]
            before_write = [r for r in issued if r["answered"] < renewed[0]["_RECEIVED"]]
            check(f"{path}: the certificate fetched during the fault is the one written",
                  len(before_write) == 2 and renewed[0]["_RECEIVED"] >= fixed_at, [r["serial"] for r in issued])
        status = daemon.stop()
        check("the daemon exits 0", status == 0, daemon.log())
        # renew-before 58 s of 60 would make every renewal due at once again:
        # a tenth of the lifetime (6 s) must pass between two. (c3 and c5
        # lost their file before the start: renewed at once, rightly.)
        gaps = {}
        for i in set(CASES) - {3, 5}:
            calls = [r["received"] for r in fake.requests(i)]
            gaps[f"c{i}"] = min((b - a for a, b in zip(calls, calls[1:])), default=60)
        check("no cluster is renewed sooner than 6 s after the last renewal",
              all(g >= 5 for g in gaps.values()), gaps)
        p = subprocess.run([*AS_NOBODY, *WRAPPER, DAEMON, "--status", "--json", "-c", str(config)],
                           capture_output=True, text=True, timeout=60)
        rows = {c["name"]: c for c in json.loads(p.stdout)["clusters"]}
        check("--status (as the daemon's user): every cluster ok afterwards",
              all(r["state"] == "ok" for r in rows.values()), {n: r["state"] for n, r in rows.items()})
        # Root takes kube/c6 -> ../real/c6.yaml as a way from nobody's directory
        # up into root's: a path that nobody could turn for a root writer.
        code, rows, _ = status_states(config)
        check("--status as root: the symlink through nobody's directory is refused",
              rows["c6"]["file"] == "refused", rows["c6"])
        left = [f"{sub}/{n}" for sub in ("full", "ro", "missing", "denied", "kube", "real") for n in leftovers(d / sub)]
        check("no temporary or lock files are left", not left, left)
    finally:
        journal.close()
        fake.stop()
        for m in ("full", "ro"):
            subprocess.run(["umount", "-l", str(d / m)])


if __name__ == "__main__":
    if os.environ.get("CCE_CERTD_TEST_NAMESPACE") != "1":
        # Mounts of our own, seen by our children only, gone when we end.
        os.environ["CCE_CERTD_TEST_NAMESPACE"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv])
    sys.exit(run_tests([test_filesystem_faults]))
