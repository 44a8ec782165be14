#!/usr/bin/env python3
"""Trust: another local user cannot turn the daemon's writes (planted
spares, locks, symlinks and hard links in a shared directory); after
rotations, a cluster removal and a kubeconfig deletion the only files that
hold a private key are the configured kubeconfigs; the daemon is not
dumpable, and no piece of a key stays in its memory (its own buffers and
what libcurl, OpenSSL and libyaml freed); a hook sees only fds 0-2; a dry
run shows no secret of a merged file. The other user is a temporary account (useradd), removed whatever
happens; where the tests do not run as root they are skipped."""
import base64
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.environ["TESTS_DIR"])
from harness import *  # noqa: E402,F403

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


class OtherUser:
    """A temporary local user, for as long as the with-block lasts."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        subprocess.run(["userdel", self.name], capture_output=True)  # a leftover of an interrupted run
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", self.name], check=True,
                       capture_output=True)
        import pwd
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        return self

    def __exit__(self, *exc):
        subprocess.run(["userdel", self.name], capture_output=True)

    def run(self, *cmd):
        """A command as this user (no groups of ours)."""
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *cmd],
                              capture_output=True, text=True, timeout=30)


def test_other_user_cannot_turn_the_writes(d):
    """A root --once writing into a sticky world-writable directory, where
    another user planted: an earlier version's spare (not adopted: the file
    is owned as configured), a stale lock of a dead cce-certd (removed), a
    symlink to a root-owned file (refused, no API call, victim untouched, for
    a merged file too), a hard link to a root-owned file (replaced by rename,
    victim untouched)."""
    if os.geteuid() != 0:
        skip("another user's plants", "not root")
        return
    fake = Fake(d, day_seconds=600)
    shared = d / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim, victim2 = d / "victim", d / "victim2"
    victim.write_text("root's file\n")
    victim2.write_text("key: value\n")
    d.chmod(0o755)
    config = write_config(d, fake, [
        (1, f", kubeconfig: {shared}/c1, owner: nobody"),
        (2, f", kubeconfig: {shared}/c2"),
        (3, f", kubeconfig: {shared}/team-kubeconfig, merge: true"),
        (4, f", kubeconfig: {shared}/c4"),
    ])
    try:
        with OtherUser("cce-t-mallory") as mallory:
            plant = mallory.run("sh", "-c", f"""
                umask 0; echo -n > {shared}/.c1.cce-certd-spare && chmod 666 {shared}/.c1.cce-certd-spare &&
                echo 'cce-certd 1' > {shared}/c2.lock &&
                ln -s {victim} {shared}/team-kubeconfig""")
            check("the other user planted a spare, a lock and a symlink", plant.returncode == 0, plant.stderr)
            os.link(victim2, shared / "c4")  # fs.protected_hardlinks stops a user linking root's file: root does
            before = (victim.read_bytes(), victim2.read_bytes())

            code, err = run_once(config)
            check("--once: exit 1 (one cluster refused)", code == 1, err)
            check("the victims are byte for byte what they were", (victim.read_bytes(), victim2.read_bytes()) == before)
            check("the symlink is refused, naming it and its owner",
                  "team-kubeconfig is a symlink owned by uid %d" % mallory.uid in err, err)
            check("no certificate is asked for the refused path", fake.count(3) == 0, fake.calls())
            st = os.stat(shared / "c1")
            check("c1 belongs to whom the configuration says (nobody), mode 0600",
                  st.st_uid == NOBODY and st.st_mode & 0o7777 == 0o600, (st.st_uid, oct(st.st_mode)))
            spare = os.stat(shared / ".c1.cce-certd-spare")
            check("the planted spare was neither used nor removed (not ours)",
                  spare.st_uid == mallory.uid and spare.st_size == 0)
            read = mallory.run("cat", str(shared / "c1"))
            check("the other user cannot read the new key", read.returncode != 0 and "BEGIN" not in read.stdout)
            check("the stale lock was removed and c2 written",
                  not (shared / "c2.lock").exists() and "client-key-data" in (shared / "c2").read_text())
            c4 = os.stat(shared / "c4")
            check("the hard link was replaced, not written through",
                  c4.st_nlink == 1 and c4.st_ino != os.stat(victim2).st_ino and os.stat(victim2).st_nlink == 1)
            _, rows, _ = status_states(config)
            check("--status says why c3 is refused", rows["c3"]["file"] == "refused" and
                  "symlink owned by uid" in (rows["c3"]["last-error"] or {}).get("message", ""), rows["c3"])
            mallory.run("rm", "-f", str(shared / ".c1.cce-certd-spare"), str(shared / "team-kubeconfig"))
    finally:
        fake.stop()


def test_keys_only_in_kubeconfigs(d):
    """After rotations, a cluster removal (reload) and a kubeconfig
    deletion, a sweep of the kubeconfig and state directories finds private
    keys only in the configured kubeconfigs; what an earlier version left
    (a spare, a temporary file holding a key) is removed at start."""
    fake = Fake(d, day_seconds=4)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, ""), (3, ""), (4, f", kubeconfig: {d}/kube/shared, merge: true"),
                                    (5, f", kubeconfig: {d}/kube/shared, merge: true")])
    code, err = run_once(config)
    check("--once writes every kubeconfig", code == 0, err)
    key_text = (d / "kube/c1").read_text()
    for leftover in (".c1.cce-certd-spare", ".c2.cce-certd-0123456789abcdef", ".gone.cce-certd-spare"):
        (d / "kube" / leftover).write_text(key_text)
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("what an earlier version or a crash left is gone at start",
              not leftovers(d / "kube"), leftovers(d / "kube"))
        wait_for(lambda: all(fake.count(i) >= 3 for i in (1, 2, 3, 4, 5)), 30)
        check("every cluster rotated at least twice more", all(fake.count(i) >= 3 for i in (1, 2, 3, 4, 5)),
              fake.calls())
        # c2 leaves the configuration; c3's kubeconfig is deleted by hand.
        text = config.read_text()
        config.write_text("\n".join(line for line in text.splitlines() if "name: c2," not in line) + "\n")
        since = time.time()
        daemon.proc.send_signal(signal.SIGHUP)
        check("reloaded", wait_for(lambda: notify.find("READY=1", since), 10), daemon.log())
        (d / "kube/c3").unlink()
        time.sleep(6)
    finally:
        status = daemon.stop()
        notify.close()
        fake.stop()
    check("SIGTERM: exit 0", status == 0, daemon.log())
    keys = files_with_private_keys(d / "kube") + files_with_private_keys(d / "state")
    expected = sorted(str(d / "kube" / n) for n in ("c1", "c2", "c3", "shared") if (d / "kube" / n).exists())
    check("only the configured kubeconfigs (and the removed cluster's, kept) hold keys", keys == expected,
          {"found": keys, "expected": expected})
    check("no lock, no new file, no spare is left", not leftovers(d / "kube"), leftovers(d / "kube"))


def test_not_dumpable(d):
    """Run as another user than root, the daemon's /proc/PID files belong to
    root: it is not dumpable, so no core and no ptrace of its memory."""
    if os.geteuid() != 0:
        skip("not dumpable", "not root")
        return
    d.chmod(0o755)
    fake = Fake(d, day_seconds=600)
    notify = Notify(d)
    config = write_config(d, fake, [(1, "")])
    for p in [d / "secrets", *(d / "secrets").iterdir(), d / "kube"]:
        os.chown(p, NOBODY, NOBODY)
    (d / "state").mkdir()
    os.chown(d / "state", NOBODY, NOBODY)
    os.chmod(notify.path, 0o777)
    daemon = Daemon(d, config, notify, wrapper=[*AS_NOBODY, *WRAPPER])
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        wait_for(lambda: (d / "kube/c1").exists(), 10)
        pid = daemon.proc.pid
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        check("the daemon runs as nobody", uid == NOBODY, status)
        check("its /proc/PID/environ and mem belong to root (not dumpable)",
              os.stat(f"/proc/{pid}/environ").st_uid == 0 and os.stat(f"/proc/{pid}/mem").st_uid == 0)
        peek = subprocess.run([*AS_NOBODY, "cat", f"/proc/{pid}/environ"], capture_output=True)
        check("its own user cannot read its environment", peek.returncode != 0)
    finally:
        daemon.stop()
        notify.close()
        fake.stop()


def test_hook_sees_only_standard_fds(d):
    """A hook starts with stdin, stdout and stderr, nothing else of the
    daemon's (not its connection to the API)."""
    fake = Fake(d, day_seconds=600)
    notify = Notify(d)
    hook = d / "hook.py"
    out = d / "hook-fds"
    hook.write_text("#!/usr/bin/python3\nimport os, sys\nopen_fds = []\nfor fd in range(4096):\n"
                    "    try:\n        os.fstat(fd)\n        open_fds.append(fd)\n    except OSError:\n        pass\n"
                    "open(sys.argv[1], 'w').write(' '.join(map(str, open_fds)) + '\\n')\n")
    hook.chmod(0o755)
    config = write_config(d, fake, [(1, f", on-renew: [{hook}, {out}]"), (2, "")])
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("the hook ran", wait_for(lambda: out.exists() and out.read_text().endswith("\n"), 15), daemon.log())
        fds = out.read_text().split() if out.exists() else []
        check("the hook had only fds 0, 1, 2", fds == ["0", "1", "2"], fds)
    finally:
        daemon.stop()
        notify.close()
        fake.stop()


def test_dry_run_redacts_every_secret(d):
    """--dry-run over a merged file that holds other users with a token, a
    password, an auth-provider config and an exec env: none of their values
    is shown."""
    fake = Fake(d, day_seconds=600)
    secrets = ["tok-3e1f9a77", "pass-8c2d41", "idp-secret-55aa", "refresh-77bb", "env-secret-9f9f"]
    (d / "kube").mkdir()
    shared = d / "kube/shared"
    shared.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "current-context": "",
        "users": [
            {"name": "bearer", "user": {"token": secrets[0]}},
            {"name": "basic", "user": {"username": "admin", "password": secrets[1]}},
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "client-secret": secrets[2], "refresh-token": secrets[3], "idp-issuer-url": "https://idp"}}}},
            {"name": "plugin", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x",
                                                 "env": [{"name": "API_KEY", "value": secrets[4]}]}}},
        ]}))
    shared.chmod(0o600)
    config = write_config(d, fake, [(1, f", kubeconfig: {shared}, merge: true")])
    try:
        p = subprocess.run([*WRAPPER, DAEMON, "--once", "--dry-run", "--force", "-c", str(config)],
                           capture_output=True, text=True, timeout=60)
        check("--dry-run: exit 0", p.returncode == 0, p.stderr)
        shown = [s for s in secrets if s in p.stdout or s in p.stderr]
        check("no token, password, auth-provider config or exec env value is shown", not shown, shown)
        check("the redacted fields are named", p.stdout.count("REDACTED") >= 7 and "API_KEY" in p.stdout, p.stdout)
    finally:
        fake.stop()


def unit_syscall_allow_list(unit_text):
    """The system calls a unit's SystemCallFilter= lines allow, applied as
    systemd applies them: the first line (an allow list) sets the list, a
    later "~" line takes its calls out, a later plain line puts them back.
    Groups are expanded with systemd-analyze syscall-filter."""
    cache = {}

    def expand(name):
        if not name.startswith("@"):
            return {name}
        if name not in cache:
            out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                                 check=True).stdout
            calls = set()
            for line in out.splitlines()[1:]:
                line = line.strip()
                if line and not line.startswith("#"):
                    calls |= expand(line)
            cache[name] = calls
        return cache[name]

    allowed = None
    for line in unit_text.splitlines():
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        deny = value.startswith("~")
        calls = set().union(*(expand(n) for n in value.lstrip("~").split()))
        assert allowed is not None or not deny, "the unit's filter starts with an allow list"
        allowed = calls if allowed is None else (allowed - calls if deny else allowed | calls)
    return allowed


def test_owner_under_the_system_units_sandbox(d):
    """owner: works under the shipped system unit with the drop-in its
    comments give (CAP_CHOWN): the daemon runs as its own user with the
    unit's system call filter (libseccomp, as systemd would apply it) and
    only CAP_CHOWN (setpriv), and writes a kubeconfig for another owner.
    The same run under the unit's filter without its @chown line fails,
    as it did before: the filter is really applied."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv") or \
            subprocess.run(["/usr/bin/python3", "-c", "import seccomp"], capture_output=True).returncode != 0:
        skip("owner: under the unit's sandbox", "needs root, setpriv and python3-seccomp")
        return
    unit = (pathlib.Path(os.environ["SOURCE_ROOT"]) / "systemd/cce-certd.service.in").read_text()
    filters = {
        "shipped": unit,
        "without @chown": "\n".join(l for l in unit.splitlines() if l.strip() != "SystemCallFilter=@chown"),
    }
    check("the unit allows the chown calls after its ~@privileged line",
          filters["shipped"] != filters["without @chown"])
    d.chmod(0o755)
    # Copies the daemon's user can reach wherever the checkout is (a CI
    # clone may be in a 0700 directory); "programs" is not swept for secrets.
    (d / "programs").mkdir()
    (d / "programs").chmod(0o755)
    helper, daemon = d / "programs/run-with-syscall-filter.py", d / "programs/cce-certd"
    shutil.copy(pathlib.Path(os.environ["TESTS_DIR"]) / "run-with-syscall-filter.py", helper)
    shutil.copy(DAEMON, daemon)
    helper.chmod(0o755)
    daemon.chmod(0o755)
    fake = Fake(d, day_seconds=600)
    try:
        with OtherUser("cce-t-daemon") as daemon_user:
            results = {}
            for name, text in filters.items():
                sub = d / name.replace(" ", "-").replace("@", "")
                sub.mkdir()
                allow = sub / "allowed-syscalls"
                allow.write_text("\n".join(sorted(unit_syscall_allow_list(text))) + "\n")
                config = write_config(sub, fake, [(1, ", owner: nobody, group: nogroup")])
                for p in [sub, sub / "kube", sub / "secrets", *(sub / "secrets").iterdir()]:
                    os.chown(p, daemon_user.uid, daemon_user.gid)
                p = subprocess.run(
                    ["setpriv", f"--reuid={daemon_user.uid}", f"--regid={daemon_user.gid}", "--clear-groups",
                     "--inh-caps=-all,+chown", "--ambient-caps=-all,+chown", "--bounding-set=-all,+chown",
                     "/usr/bin/python3", str(helper), str(allow), "--", str(daemon), "--once", "-c", str(config)],
                    capture_output=True, text=True, timeout=60,
                    # LeakSanitizer (the ASan build) needs ptrace, which the unit's filter denies.
                    env=dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"))
                results[name] = (p, sub / "kube/c1")
            p, kube = results["shipped"]
            check("under the shipped unit's filter and CAP_CHOWN: --once exit 0", p.returncode == 0, p.stderr)
            st = os.stat(kube) if kube.exists() else None
            check("the kubeconfig belongs to the configured owner and group (nobody:nogroup)",
                  st and st.st_uid == NOBODY and st.st_gid == NOBODY, st)
            p, kube = results["without @chown"]
            check("without the @chown line: the write fails (EPERM), nothing written",
                  p.returncode != 0 and "Operation not permitted" in p.stderr and not kube.exists(), p.stderr)
    finally:
        fake.stop()


def test_state_directory_and_metrics_file_paths(d):
    """The state directory and the metrics file are resolved by the same
    rules: a state directory in a directory every user can write to stops
    the start (exit 73, saying why); a metrics file there is not written."""
    fake = Fake(d, day_seconds=600)
    open_dir = d / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    try:
        config = write_config(d, fake, [(1, "")])
        text = config.read_text().replace(f"state-directory: {d}/state", f"state-directory: {open_dir}/state")
        config.write_text(text)
        code, err = run_once(config)
        check("a state directory reached through a world-writable directory: exit 73", code == 73, err)
        check("... saying which directory and why", f"the directory {open_dir} is writable by every user" in err, err)
        config.write_text(config.read_text().replace(f"state-directory: {open_dir}/state",
                                                     f"state-directory: {d}/state\nmetrics-file: {open_dir}/m.prom"))
        notify = Notify(d)
        daemon = Daemon(d, config, notify)
        try:
            check("a metrics file there: the daemon starts and renews",
                  wait_for(lambda: (d / "kube/c1").exists(), 15), daemon.log())
            check("... the metrics file is not written, and the log says why",
                  wait_for(lambda: "Cannot write the metrics file" in daemon.log(), 5) and
                  "is writable by every user" in daemon.log() and not (open_dir / "m.prom").exists(), daemon.log())
        finally:
            daemon.stop()
            notify.close()
    finally:
        fake.stop()


def process_memory(pid):
    """What a process holds in memory that no file backs (heap, stacks,
    anonymous maps), by region: read from /proc/PID/mem, as root. Regions
    larger than 1 GiB (a sanitizer's shadow) are passed over."""
    regions = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anon]"
            if "r" not in fields[1] or name.startswith("/") or name in ("[vvar]", "[vsyscall]") or \
                    high - low > 1 << 30:
                continue
            try:
                mem.seek(low)
                regions.append((name, mem.read(high - low)))
            except OSError:
                pass
    return regions


def key_needles(key_data):
    """Pieces of one private key in each form it passes through: the
    base64 of its PEM (the API's answer, the kubeconfig), a PEM line (the
    base64 of its DER), its DER, its private scalar in both byte orders.
    Pieces from the middle: every key's header is the same."""
    from cryptography.hazmat.primitives import serialization
    pem = base64.b64decode(key_data)
    key = serialization.load_pem_private_key(pem, None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return {"base64 of the PEM": key_data.encode()[40:88], "a PEM line": pem.splitlines()[1][8:56],
            "the DER": der[len(der) // 2:len(der) // 2 + 24], "the scalar": scalar[4:28],
            "the scalar, little-endian": scalar[::-1][4:28]}


def check_no_key_in_memory(pid, keys, enough):
    """Checks that no piece of any key is in the process's memory; what is
    found is named by key number, form and region."""
    needles = [key_needles(key) for key in sorted(keys)]
    found = []
    for name, data in process_memory(pid):
        for n, pieces in enumerate(needles):
            for form, needle in pieces.items():
                if needle in data:
                    found.append(f"key {n}: {form} in {name}")
    check(f"none of the {len(keys)} keys seen is in the daemon's memory", not found and enough, found or len(keys))


def can_read_memory(what):
    if os.geteuid() != 0:
        skip(what, "reading another process's memory needs root")
    elif WRAPPER:
        skip(what, "under valgrind the memory is valgrind's")
    else:
        return True
    return False


def read_keys(paths, keys):
    """Adds the client keys of the kubeconfigs to keys; False, for wait_for()."""
    for path in paths:
        try:
            for user in yaml.safe_load(path.read_text())["users"]:
                keys.add(user["user"]["client-key-data"])
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            pass
    return False


def test_no_key_left_in_memory(d):
    """After rotations of own and merged files, with the API gone so that
    nothing is in flight, no private key the daemon fetched, wrote or read
    back is anywhere in its memory: not in its own buffers, nor in what
    libcurl, OpenSSL or libyaml freed (secure-memory.c). Found pieces are
    named by form and region, never shown."""
    what = "no key left in the daemon's memory after rotations"
    if not can_read_memory(what):
        return
    fake = Fake(d, day_seconds=4)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, ""), (4, f", kubeconfig: {d}/kube/shared, merge: true"),
                                    (5, f", kubeconfig: {d}/kube/shared, merge: true")])
    files = [d / "kube/c1", d / "kube/c2", d / "kube/shared"]
    daemon = Daemon(d, config, notify)
    keys = set()
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        rotated = wait_for(lambda: read_keys(files, keys) or all(fake.count(i) >= 3 for i in (1, 2, 4, 5)), 40,
                           step=0.02)
        check("every cluster rotated at least twice", rotated, fake.calls())
        fake.stop()  # from here every renewal fails before an answer
        time.sleep(1)
        before = [p.stat().st_mtime_ns for p in files]
        time.sleep(1)
        read_keys(files, keys)
        check("nothing was written in the last second", before == [p.stat().st_mtime_ns for p in files])
        sample = key_needles(next(iter(keys)))["base64 of the PEM"]
        check("the search finds a key where one is (this test's own memory)",
              any(sample in data for _, data in process_memory(os.getpid())))
        check_no_key_in_memory(daemon.proc.pid, keys, len(keys) >= 10)
    finally:
        status = daemon.stop()
        notify.close()
        fake.stop()
    check("SIGTERM: exit 0", status == 0, daemon.log())


def test_no_key_in_memory_between_renewals(d):
    """Between renewals, with the connections to the API kept open, none of
    the keys just written is in the daemon's memory: not in libcurl's or
    OpenSSL's buffers of those connections."""
    what = "no key in the daemon's memory between renewals"
    if not can_read_memory(what):
        return
    fake = Fake(d, day_seconds=3600)
    notify = Notify(d)
    config = write_config(d, fake, [(1, ""), (2, ""), (3, "")])
    files = [d / "kube/c1", d / "kube/c2", d / "kube/c3"]
    daemon = Daemon(d, config, notify)
    keys = set()
    try:
        check("every kubeconfig written", wait_for(lambda: all(fake.count(i) == 1 for i in (1, 2, 3)) and
                                                   all(p.exists() for p in files), 15), daemon.log())
        time.sleep(1)
        read_keys(files, keys)
        pid = daemon.proc.pid
        sockets = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
        tcp = [line.split() for line in pathlib.Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]]
        check("a connection to the API is still open",
              any(f[3] == "01" and f[9] in sockets for f in tcp))  # 01: ESTABLISHED
        check_no_key_in_memory(pid, keys, len(keys) == 3)
    finally:
        status = daemon.stop()
        notify.close()
        fake.stop()
    check("SIGTERM: exit 0", status == 0, daemon.log())


if __name__ == "__main__":
    sys.exit(run_tests([test_other_user_cannot_turn_the_writes, test_keys_only_in_kubeconfigs, test_not_dumpable,
                        test_hook_sees_only_standard_fds, test_dry_run_redacts_every_secret,
                        test_owner_under_the_system_units_sandbox, test_state_directory_and_metrics_file_paths,
                        test_no_key_left_in_memory, test_no_key_in_memory_between_renewals]))
