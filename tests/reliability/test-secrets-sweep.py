#!/usr/bin/python3
"""The secrets sweep: runs after every other test (meson runs it last, on
its own) and searches everything they collected (tests/harness.py copies
each test's daemon stderr, journal records, notifications, state files,
kubeconfigs, metrics and hook environments into BUILD_ROOT/test-artifacts)
for any access key, secret key, security token, password or IAM token the
fake cloud was given or handed out, and for private-key material anywhere
but a kubeconfig's client-key-data. First it proves it can find each kind
in planted files. Prints TAP."""
import base64
import json
import os
import pathlib
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import *  # noqa: E402,F403

# The scripts whose tests must have left something to sweep.
EXPECTED = ["test-daemon", "test-hostile-answers", "test-filesystem-faults", "test-crash-safety",
            "test-signal-storm", "test-soak"]
KEY_DATA = re.compile(rb"(client-key-data\"?\s*[:=]\s*\"?)([A-Za-z0-9+/=]+)")
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{40,}={0,2}")


def without_key_data(data):
    """A kubeconfig's client-key-data is where the key belongs: cut out,
    after checking that it is indeed a key (so nothing else hides there)."""
    return KEY_DATA.sub(lambda m: m.group(1) + b"CUT", data)


def private_key_material(data):
    """PEM private keys, in clear or base64-encoded (at any alignment)."""
    if b"PRIVATE KEY" in data:
        return "a PEM private key"
    for m in BASE64_RUN.finditer(data):
        run = m.group(0)
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[:len(chunk) - len(chunk) % 4]
            try:
                if b"PRIVATE KEY" in base64.b64decode(chunk):
                    return "a base64-encoded private key"
            except ValueError:
                pass
    return None


def sweep(root, needles):
    """[(file, what)] for every secret found under root."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name == SECRETS_SEEN:
            continue
        data = without_key_data(path.read_bytes())
        for n in needles:
            if n.encode() in data:
                found.append((str(path.relative_to(root)), f"the secret {n[:4]}…"))
        what = private_key_material(data)
        if what:
            found.append((str(path.relative_to(root)), what))
    return found


def needles_under(root):
    needles = {AK, SK}
    for f in root.rglob(SECRETS_SEEN):
        needles.update(json.loads(f.read_text()))
    return sorted(n for n in needles if len(n) >= 8)


def test_the_sweep_finds_what_it_looks_for(d):
    key_pem = (b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB2lS1bZ3Hc0000000000000000000000000000000000000000000\n"
               b"-----END EC PRIVATE KEY-----\n")
    key_b64 = base64.b64encode(key_pem).decode()
    root = d / "planted"
    (root / "t").mkdir(parents=True)
    (root / "t" / SECRETS_SEEN).write_text(json.dumps(["MIItokenXYZ0123456789", "tmp-security-token-42"]))
    planted = {
        "stderr.log": f"<3>failed: bad signature for {SK}\n",
        "journal.json": json.dumps([{"MESSAGE": "token MIItokenXYZ0123456789 refused"}]),
        "hook.env": "CCE_CLUSTER=c1\nX=tmp-security-token-42\n",
        "state.json": json.dumps({"last-error": "x" + key_b64[3:]}),   # another alignment
        "leaked-kubeconfig": f"users:\n- name: u\n  user:\n    client-key-data: {key_b64}\n    extra: {key_b64}\n",
        "pem.txt": key_pem.decode(),
    }
    for name, text in planted.items():
        (root / "t" / name).write_text(text)
    (root / "t" / "good-kubeconfig").write_text(f"users:\n- name: u\n  user:\n    client-key-data: {key_b64}\n")
    found = {f.split("/")[-1] for f, _ in sweep(root, needles_under(root))}
    for name in planted:
        check(f"the sweep finds what was planted in {name}", name in found, found)
    check("the sweep leaves a kubeconfig's own client-key-data alone", "good-kubeconfig" not in found, found)


def test_nothing_secret_in_what_the_tests_left(d):
    root = artifacts_dir()
    present = {p.name for p in root.iterdir()} if root.is_dir() else set()
    missing = [s for s in EXPECTED if s not in present]
    check("every daemon test left its outputs to sweep", not missing,
          f"nothing from {missing} in {root}: run the whole suite (meson test), this test runs last")
    needles = needles_under(root)
    files = [p for p in root.rglob("*") if p.is_file()]
    found = sweep(root, needles)
    check(f"no secret in {len(files)} files of {len(present)} test scripts ({len(needles)} secrets looked for)",
          files and not found, "\n".join(f"{f}: {what}" for f, what in found[:20]))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_the_sweep_finds_what_it_looks_for(pathlib.Path(tmp))
    test_nothing_secret_in_what_the_tests_left(None)
    print(f"1..{len(results)}")
    sys.exit(0 if all(ok for _, ok, _ in results) else 1)
