#!/usr/bin/python3
"""A soak of 1,000 rotations: 40 clusters with 4-second certificates renew
about once a second each; the daemon's resident memory is sampled all along
and must not grow after a warm-up of 200 rotations. (Under AddressSanitizer
or valgrind resident memory says nothing: their own bookkeeping grows, and
they check leaks themselves; the check is skipped there.) Prints TAP."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

CLUSTERS = 40
ROTATIONS = 1000
WARM_UP = 200
GROWTH_MAX_KIB = 256    # 64 pages: a leak of 1 KiB per rotation would add 400 KiB from one half to the next


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def instrumented(pid):
    """True when the daemon runs under ASan or valgrind."""
    if WRAPPER:
        return True
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def test_soak(d):
    fake = Fake(d, day_seconds=4, lifetime=900)
    config = write_config(d, fake, [(i, "") for i in range(1, CLUSTERS + 1)], extra="parallel-requests: 8")
    daemon = Daemon(d, config)
    samples = []    # (rotations so far, RSS in KiB)
    deadline = time.time() + 240
    while time.time() < deadline and daemon.proc.poll() is None:
        n = len(fake.issued())
        rss = rss_kib(daemon.proc.pid)
        if rss:
            samples.append((n, rss))
        if n >= ROTATIONS:
            break
        time.sleep(0.25)
    under_instruments = instrumented(daemon.proc.pid)
    status = daemon.stop()
    rotations = samples[-1][0] if samples else 0
    check(f"{rotations} rotations of {CLUSTERS} clusters (at least {ROTATIONS})", rotations >= ROTATIONS, daemon.log())
    check("the daemon ran through and stopped cleanly", status == 0, daemon.log())
    after = [rss for n, rss in samples if n >= WARM_UP]
    if under_instruments:
        skip("resident memory does not grow after the warm-up", "under AddressSanitizer or valgrind")
        fake.stop()
        return
    if not after:
        check("resident memory was sampled after the warm-up", False)
        fake.stop()
        return
    # The heap breathes with the answers in flight: a leak shows as the
    # highest level of the second half above that of the first.
    first, second = max(after[: len(after) // 2 or 1]), max(after[len(after) // 2:])
    with open(d / "rss.txt", "w") as f:
        f.writelines(f"{n} {rss}\n" for n, rss in samples)
    check(f"resident memory does not grow after {WARM_UP} rotations: at most {first} KiB in the first half, "
          f"{second} KiB in the second, {after[-1]} KiB at {rotations}", second - first <= GROWTH_MAX_KIB, samples[::8])
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_soak]))
