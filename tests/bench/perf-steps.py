#!/usr/bin/python3
"""Where a renewal's CPU goes, by step, from a perf profile of the daemon.

Record a steady round of the benchmark with call graphs, then:

  perf record -F 999 --call-graph dwarf,16384 -p PID -o steady.perf   # while it renews
  perf script -i steady.perf > steady.txt
  python3 tests/bench/perf-steps.py steady.txt

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
    """Each sample's function names, innermost first."""
    current = None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if current is not None:
                    yield current
                current = None
            elif not line[0].isspace():
                current = []
            elif current is not None:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    name = parts[1].rsplit(" (", 1)[0]
                    current.append(re.sub(r"\+0x[0-9a-f]+$", "", name))
    if current is not None:
        yield current


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    samples = [set(s) for s in stacks(sys.argv[1]) if "manager_new" not in s]
    if not samples:
        sys.exit("no samples outside start-up in " + sys.argv[1])
    counts = [0] * len(STEPS)
    rest = 0
    for s in samples:
        for i, (_, claims) in enumerate(STEPS):
            if claims(s):
                counts[i] += 1
                break
        else:
            rest += 1
    for (name, _), n in zip(STEPS, counts):
        print(f"{100 * n / len(samples):5.1f}%  {name}")
    print(f"{100 * rest / len(samples):5.1f}%  the rest (event loop, scheduling, freeing)")
    print(f"{len(samples)} samples")


if __name__ == "__main__":
    main()
