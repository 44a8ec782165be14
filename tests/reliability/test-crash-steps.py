#!/usr/bin/env python3
"""A SIGKILL at every step of a kubeconfig replace: `--once --force` runs
under gdb, which stops it at the k-th entry or return of a file system call
made from the moment it starts taking the kubeconfig's lock, and kills it
there (k = 0, 1, 2, ... until the replace, lock released, is over before
that stop). After each
kill: the kubeconfig is whole (the old certificate or the new one, the key
matching), --status names a lock that was left, and once `--once` has
started again kubectl can take the lock at once and no file but the
kubeconfig holds a private key."""
import os
import platform
import shutil
import subprocess
import sys

sys.path.insert(0, os.environ["TESTS_DIR"])
from harness import *  # noqa: E402,F403

# The calls that change files or their names, and the writes and closes
# between them: each entry and each return is a place to be killed.
SYSCALLS = "openat linkat renameat renameat2 unlinkat fsync fdatasync fchown fchmod write pwrite64 flock close"
MAX_STEPS = 200


def killed_at(d, config, step):
    """Runs --once --force under gdb and kills it at the given stop. Returns
    True when it was killed there, False when the replace was over before
    (write_done(), which follows the release of the lock, was reached)."""
    script = "\n".join([
        "set pagination off", "set confirm off",
        "break file_lock_acquire", "run",
        "delete", f"catch syscall {SYSCALLS}", f"ignore 2 {step}" if step else "", "break write_done", "continue",
        "kill", "quit",
    ])
    commands = d / "gdb-commands"
    commands.write_text(script + "\n")
    p = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", str(commands), "--args",
                        DAEMON, "--once", "--force", "-c", str(config)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    if "Breakpoint 3," in out or "exited normally" in out or "exited with code" in out:
        return False
    if "Catchpoint 2" not in out:
        raise RuntimeError(f"gdb did not stop where asked:\n{out[-3000:]}")
    return True


def lock_takeable(path):
    """What kubectl does to edit a kubeconfig: create FILE.lock exclusively."""
    try:
        fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    os.unlink(f"{path}.lock")
    return True


def test_sigkill_at_every_step(d):
    if not shutil.which("gdb") or platform.machine() != "x86_64":
        skip("SIGKILL at every step", "needs gdb on x86_64")
        return
    fake = Fake(d, day_seconds=600)
    kube = d / "kube/c1"
    config = write_config(d, fake, [(1, "")])
    try:
        code, err = run_once(config)
        check("--once writes the kubeconfig", code == 0, err)
        reader = KubeconfigReader({"c1": kube})
        reader.close()
        serials = {reader.serial_in(kube)}
        killed, problems, locks_left, locks_shown = 0, [], 0, 0
        for step in range(MAX_STEPS):
            if not killed_at(d, config, step):
                break
            killed += 1
            try:
                serial = reader.serial_in(kube)
            except Exception as e:  # noqa: BLE001 - any broken file is the failure
                problems.append(f"step {step}: the kubeconfig is broken: {e}")
                continue
            serials.add(serial)
            if os.path.exists(f"{kube}.lock"):
                locks_left += 1
                _, rows, _ = status_states(config)
                if rows["c1"].get("lock-blocks-kubectl"):
                    locks_shown += 1
                else:
                    problems.append(f"step {step}: --status does not show the lock left: {rows['c1']}")
            code, err = run_once(config)  # nothing is due: it starts, sweeps and ends
            if code != 0:
                problems.append(f"step {step}: --once after the kill: exit {code}: {err[-500:]}")
            if not lock_takeable(kube):
                problems.append(f"step {step}: kubectl cannot lock the file after --once started again")
            keys = files_with_private_keys(d / "kube")
            if keys != [str(kube)]:
                problems.append(f"step {step}: files holding a key: {keys}")
        print(f"# {killed} kills at steps of the replace; {locks_left} left a lock, {len(serials)} certificates seen",
              flush=True)
        check(f"killed at each of {killed} steps until a run ended first", 20 <= killed < MAX_STEPS, killed)
        check("a kill left a lock at some steps, and --status showed it each time",
              locks_left > 0 and locks_shown == locks_left, (locks_left, locks_shown))
        check("after every kill: a whole kubeconfig, kubectl can lock it once cce-certd started again, "
              "no key anywhere else", not problems, "\n".join(problems[:20]))
        check("the runs wrote new certificates at the later steps", len(serials) > 1, serials)
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_sigkill_at_every_step]))
