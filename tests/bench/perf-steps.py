#!/usr/bin/python3
"""Where a renewal's CPU goes, by step, from a perf profile of the daemon.

Record a steady round of the benchmark with call graphs, then:

  python3 tests/bench/bench.py --sizes 10000 --runs 1 --idle 2 --perf steady.perf
  perf script -i steady.perf > steady.txt
  python3 tests/bench/perf-steps.py steady.txt [CPU-MS-PER-RENEWAL]

(--perf runs `perf record -F 999 --call-graph dwarf,16384 -p PID` over the
measured steady round.) Each step's share is split into the kernel's
(samples taken in a system call the step made) and user space's; given the
CPU time per renewal the benchmark measured, the shares are also shown in
microseconds per renewal. Then the same samples by where they were taken:
the kernel, each library, the daemon's own code.

Samples taken while the daemon loaded its configuration (under manager_new)
are left out. Each sample counts once, for the first step below whose
function is on its stack; what no step claims is "the rest". The steps
name the daemon's own functions, so this follows the code: a renamed
function shows up in the rest."""
import re
import sys

STEPS = [
    ("TLS and libcurl: the request sent, the answer read",
     lambda s: "curl_multi_socket_action" in s and "on_answer" not in s),
    ("the answer's JSON", lambda s: "cce_parse_kubeconfig" in s),
    ("the certificates parsed (PEM, X.509)", lambda s: "read_certificate" in s),
    ("the key checked against the certificate", lambda s: "check_key" in s),
    ("the answer's other checks (base64, dates)", lambda s: "cce_check_certificates" in s),
    ("the kubeconfig's lock taken (path, lock file)", lambda s: "file_lock_acquire" in s),
    ("the kubeconfig rendered (YAML emitter)", lambda s: "yaml_tree_emit" in s),
    ("the new file written, synced, linked, renamed", lambda s: "file_lock_replace" in s),
    ("the lock released", lambda s: "file_lock_release" in s or "file_lock_releasep" in s),
    ("the content digest (SHA-256)", lambda s: "kubeconfig_content_hash" in s),
    ("the cluster's entries applied", lambda s: "apply_entries" in s),
    ("the state file written", lambda s: "save_state" in s),
    ("the journal line", lambda s: "log_struct_internal" in s),
    ("the file watch told", lambda s: "file_watch_written" in s or "file_identity_of" in s),
    ("the request started (credentials, signing, handle)", lambda s: "start_mint" in s or "cce_call_start" in s),
]


def stacks(path):
    """Each sample's function names, innermost first, and where it was
    taken: "kernel", or the file name of the library or program."""
    current = None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if current is not None:
                    yield current, where_taken
                current = None
            elif not line[0].isspace():
                current, where_taken = [], None
            elif current is not None:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    name, where = parts[1].rsplit(" (", 1) if " (" in parts[1] else (parts[1], "")
                    where = where.strip().rstrip(")")
                    if where_taken is None and where != "inlined":  # an inlined frame's code is its caller's
                        where_taken = "kernel" if "kernel.kallsyms" in where else where.rsplit("/", 1)[-1]
                    current.append(re.sub(r"\+0x[0-9a-f]+$", "", name))
    if current is not None:
        yield current, where_taken


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    cpu_us = float(sys.argv[2]) * 1000 if len(sys.argv) == 3 else None
    samples = [(set(s), where) for s, where in stacks(sys.argv[1]) if "manager_new" not in s]
    if not samples:
        sys.exit("no samples outside start-up in " + sys.argv[1])
    names = [name for name, _ in STEPS] + ["the rest (event loop, scheduling, freeing)"]
    kernel_counts, user_counts = [0] * len(names), [0] * len(names)
    by_place = {}
    for s, where in samples:
        i = next((i for i, (_, claims) in enumerate(STEPS) if claims(s)), len(STEPS))
        (kernel_counts if where == "kernel" else user_counts)[i] += 1
        by_place[where] = by_place.get(where, 0) + 1
    total = len(samples)
    print(f"{'share':>6} {'kernel':>7} {'user':>6}" + (f" {'us/renewal':>11} {'kernel':>7} {'user':>6}" if cpu_us else ""))
    rows = list(zip(names, kernel_counts, user_counts)) + [("all", sum(kernel_counts), sum(user_counts))]
    for name, k, u in rows:
        line = f"{100 * (k + u) / total:5.1f}% {100 * k / total:6.1f}% {100 * u / total:5.1f}%"
        if cpu_us:
            line += f" {cpu_us * (k + u) / total:11.1f} {cpu_us * k / total:7.1f} {cpu_us * u / total:6.1f}"
        print(f"{line}  {name}")
    print(f"{total} samples; where they were taken:")
    for where, k in sorted(by_place.items(), key=lambda item: -item[1]):
        if k * 200 >= total:  # 0.5% and more
            print(f"{100 * k / total:5.1f}%" + (f" {cpu_us * k / total:6.1f} us" if cpu_us else "") + f"  {where}")


if __name__ == "__main__":
    main()
