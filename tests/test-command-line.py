#!/usr/bin/python3
"""The command line as a user meets it: options, exit codes, --check,
--dump-config and the daemon's start-up on good and bad configurations.
Runs the built daemon named by $CCE_CERTD; prints TAP."""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WRAPPER  # noqa: E402  (valgrind when CCE_CERTD_VALGRIND=1)

DAEMON = os.path.abspath(os.environ["CCE_CERTD"])
EXAMPLE = pathlib.Path(os.environ["SOURCE_ROOT"]) / "conf" / "cce-certd.yaml"
results = []


def run(*args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items()
         if k not in ("CREDENTIALS_DIRECTORY", "JOURNAL_STREAM", "CCE_CERTD_LOG_LEVEL")}
    e.update(env or {})
    return subprocess.run([*WRAPPER, DAEMON, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, env=e, cwd=cwd, timeout=30, text=True)


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))


def check_shared_values(d):
    """Configurations that share values: as Ansible's to_nice_yaml renders
    them (PyYAML writes a value used twice as an &id001 anchor and *id001
    aliases) and as people write them by hand (merge keys), read exactly like
    the same configuration spelt out."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    class SpeltOut(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    def to_nice_yaml(data, dumper):  # Ansible's filter, with PyYAML's own dumper
        return yaml.dump(data, Dumper=dumper, indent=4, allow_unicode=True, default_flow_style=False)

    key = {"file": f"{d}/ak"}
    hook = ["/usr/local/bin/reload-proxy", "--graceful"]
    data = {
        "credentials": {"ops": {"access-key": key, "secret-key": key}},
        "defaults": {"region": "cn-north-4", "credentials": "ops"},
        "clusters": [{"name": f"c{i}", "project-id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                      "cluster-id": f"4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0{i}",
                      "kubeconfig": f"{d}/c{i}.kubeconfig", "on-renew": hook} for i in range(3)],
    }
    rendered = d / "rendered.yaml"
    rendered.write_text(to_nice_yaml(data, Dumper))
    spelt = d / "spelt-out.yaml"
    spelt.write_text(to_nice_yaml(data, SpeltOut))
    check("the Ansible-style rendering uses anchors and aliases",
          "&id001" in rendered.read_text() and "*id001" in rendered.read_text(), rendered.read_text())
    p = run("--check", "-c", str(rendered))
    check("a configuration with anchors and aliases passes --check",
          p.returncode == 0 and p.stdout == "configuration OK: 3 clusters\n", p.stdout + p.stderr)
    want = run("--dump-config", "-c", str(spelt)).stdout
    got = run("--dump-config", "-c", str(rendered)).stdout
    check("aliases read like the values spelt out", got == want and "reload-proxy" in got, got)

    merged = d / "merge-keys.yaml"
    merged.write_text(f"""credentials:
  ops: {{access-key: &key {{file: {d}/ak}}, secret-key: *key}}
x-cluster: &cluster
  region: cn-north-4
  credentials: ops
  project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
  on-renew: [/usr/local/bin/reload-proxy, --graceful]
  duration: 99
clusters:
""" + "".join(f"""  - <<: *cluster
    name: c{i}
    cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0{i}
    kubeconfig: {d}/c{i}.kubeconfig
    duration: 30
""" for i in range(3)))
    got = run("--dump-config", "-c", str(merged)).stdout
    check("merge keys read like the values spelt out, a cluster's own keys winning", got == want, got)


def check_discover(d):
    """A configuration with discover entries: --check counts them, --dump-config
    gives them with their effective settings and loads back the same."""
    cfg = d / "discover.yaml"
    cfg.write_text(f"""credentials:
  ops: {{access-key: {{file: {d}/ak}}, secret-key: {{file: {d}/sk}}}}
defaults: {{region: cn-north-4, credentials: ops, duration: 7}}
discover:
  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
    kubeconfig: /etc/kubernetes/cce-certd/{{name}}.kubeconfig
    match: [prod-*]
    interval: 1h
""")
    p = run("--check", "-c", str(cfg))
    check("--check counts discover entries", p.returncode == 0 and
          p.stdout == "configuration OK: 0 clusters, 1 discover entry\n", p.stdout + p.stderr)
    p = run("--dump-config", "-c", str(cfg))
    check("--dump-config shows a discover entry with what it inherits",
          p.returncode == 0 and "discover:\n- project-id:" in p.stdout and "  interval: 1h\n" in p.stdout
          and "  duration: 7\n" in p.stdout and "  name: '{name}'\n" in p.stdout, p.stdout + p.stderr)
    dumped = d / "discover-dumped.yaml"
    dumped.write_text(p.stdout)
    p2 = run("--dump-config", "-c", str(dumped))
    check("... and loads back the same", p2.stdout == p.stdout, p2.stdout + p2.stderr)


def main():
    p = run("--help")
    check("--help exits 0", p.returncode == 0, p.stderr)
    for opt in ("--config", "--check", "--dump-config", "--once", "--cluster", "--force", "--help", "--version",
                "--revoke", "--all", "--user-id", "--agency-id"):
        check(f"--help mentions {opt}", opt in p.stdout)
    check("--help names the default configuration", "/cce-certd/config.yaml" in p.stdout)
    check("-h is --help", run("-h").stdout == p.stdout)

    p = run("--version")
    check("--version exits 0", p.returncode == 0)
    check("--version prints the version", re.fullmatch(r"cce-certd \d+\.\d+\.\d+\n", p.stdout), p.stdout)

    for args in (["--bogus"], ["-x"], ["-c"], ["--config"], ["extra"], ["--check", "--dump-config"],
                 ["--once", "--check"], ["--cluster"], ["--revoke"], ["--revoke", "--once", "--all"],
                 ["--revoke", "--all", "--cluster", "a"], ["--revoke", "--all", "--force"], ["--all"],
                 ["--once", "--user-id", "abc"], ["--revoke", "--all", "--user-id", "a", "--agency-id", "b"],
                 ["--revoke", "--all", "--user-id", "not an id"], ["--revoke", "--all", "--user-id", "x" * 65]):
        p = run(*args)
        check(f"usage error {' '.join(args)} exits 64", p.returncode == 64, f"{p.returncode} {p.stderr}")
        check(f"usage error {' '.join(args)} says why", p.stderr.strip() != "" and p.stdout == "")

    p = run("--check", "-c", str(EXAMPLE))
    check("the example configuration passes --check", p.returncode == 0, p.stderr)
    check("--check prints configuration OK", p.stdout == "configuration OK: 2 clusters\n", p.stdout)
    check("--check of the example warns about nothing", p.stderr == "", p.stderr)

    p = run("--check", "--config", "/nonexistent/config.yaml")
    check("--check of a missing file exits 78", p.returncode == 78)
    check("--check of a missing file says so",
          p.stderr == "/nonexistent/config.yaml: cannot read the configuration: No such file or directory\n", p.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        (d / "dir.yaml").mkdir()
        p = run("--check", "-c", str(d / "dir.yaml"))
        check("--check of a directory exits 78", p.returncode == 78 and "not a regular file" in p.stderr, p.stderr)

        big = d / "big.yaml"
        big.write_text("#" * (16 * 1024 * 1024 + 1))
        p = run("--check", "-c", str(big))
        check("--check of a file over 16 MiB exits 78", p.returncode == 78 and "larger than" in p.stderr, p.stderr)

        # --dump-config: effective values, secrets only as references.
        secret_value = "SECRET-CONTENT-7f3a9c"
        for name in ("ak", "sk"):
            f = d / name
            f.write_text(secret_value)
            f.chmod(0o600)
        cfg = d / "config.yaml"
        cfg.write_text(f"""credentials:
  ops:
    access-key: {{file: {d}/ak}}
    secret-key: {{file: {d}/sk}}
defaults: {{region: cn-north-4, credentials: ops}}
clusters:
  - name: a
    project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
    cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c
    kubeconfig: {d}/a.kubeconfig
""")
        p = run("--dump-config", "-c", str(cfg))
        check("--dump-config exits 0", p.returncode == 0, p.stderr)
        check("--dump-config applies defaults",
              "  region: cn-north-4\n" in p.stdout and "  renew-at: 66%\n" in p.stdout
              and "  duration: 30\n" in p.stdout and "  file-mode: \"0600\"\n" in p.stdout, p.stdout)
        check("--dump-config shows secrets as references", f"file: {d}/ak" in p.stdout, p.stdout)
        check("--dump-config never shows secret content", secret_value not in p.stdout + p.stderr)
        dumped = d / "dumped.yaml"
        dumped.write_text(p.stdout)
        p2 = run("--dump-config", "-c", str(dumped))
        check("--dump-config output is a configuration that dumps the same", p2.stdout == p.stdout, p2.stderr)

        # The daemon itself (its work is tested against the fake cloud in
        # test-daemon.py): a state directory it cannot use stops it at start,
        # before any network call.
        blocked = d / "blocked"
        blocked.write_text("a file where the state directory should be")
        with open(cfg, "a") as f:
            f.write(f"state-directory: {blocked}/state\n")
        p = run("-c", str(cfg))
        check("the daemon exits 73 when the state directory cannot be made", p.returncode == 73, p.stderr)
        check("the daemon says why, with a priority prefix",
              any(line.startswith(f"<3>cannot create the state directory {blocked}/state")
                  for line in p.stderr.splitlines()), p.stderr)
        check("the daemon never logs secret content", secret_value not in p.stdout + p.stderr)
        p = run("--once", "-c", str(cfg), "--cluster", "nosuch")
        check("--once with an unknown --cluster exits 64", p.returncode in (64, 73), p.stderr)
        for args in (["--cluster", "a"], ["--force"]):
            p = run(*args, "-c", str(cfg))
            check(f"{args[0]} without --once is a usage error", p.returncode == 64, p.stderr)

        bad = d / "bad.yaml"
        bad.write_text("clusters:\n  - name: a\n    colour: blue\n")
        p = run("-c", str(bad))
        check("the daemon refuses a bad configuration with 78", p.returncode == 78, p.stderr)
        check("the daemon logs every error at priority err",
              f"<3>{bad}:3:5: unknown key 'colour' in cluster #1\n" in p.stderr
              and f"<3>{bad}:2:5: cluster 'a' has no project-id\n" in p.stderr, p.stderr)

        check_shared_values(d)
        check_discover(d)

        p = run(cwd=tmp, env={"PATH": os.environ.get("PATH", "")})
        check("without -c the default path is read", "/cce-certd/config.yaml" in p.stderr, p.stderr)

    print(f"1..{len(results)}")
    for i, (name, ok, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok and detail:
            for line in str(detail).splitlines():
                print(f"# {line}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
