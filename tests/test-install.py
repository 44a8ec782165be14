#!/usr/bin/python3
"""What `meson install` ships, checked like a distribution would: every
file where the units and docs say; the units verified by systemd-analyze
(any output on stderr fails) and the system unit's exposure score at most
2.0; the man pages lint-clean with mandoc and naming every --help option;
the journal catalog holding exactly the message ids the code uses; the
configuration installed only when there is none. Prints TAP."""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = pathlib.Path(os.environ["BUILD_ROOT"])
SOURCE = pathlib.Path(os.environ["SOURCE_ROOT"])
DAEMON = os.environ["CCE_CERTD"]
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {name}", flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-30:]:
            print(f"# {line}", flush=True)


def skip(name, why):
    results.append(True)
    print(f"ok {len(results)} - {name} # SKIP {why}", flush=True)


def introspect(option):
    out = subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)], capture_output=True, text=True).stdout
    import json
    for o in json.loads(out):
        if o["name"] == option:
            return o["value"]
    return None


def main():
    prefix = introspect("prefix")
    sysconfdir = introspect("sysconfdir")
    etc = pathlib.Path(sysconfdir if sysconfdir.startswith("/") else prefix + "/" + sysconfdir)
    with tempfile.TemporaryDirectory(prefix="test-install-") as tmp:
        dest = pathlib.Path(tmp) / "dest"
        p = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild", "--quiet"],
                           capture_output=True, text=True)
        check("meson install --destdir succeeds", p.returncode == 0, p.stdout + p.stderr)

        root = dest / prefix.lstrip("/")
        expected = {
            "the binary": root / "bin/cce-certd",
            "the system unit": root / "lib/systemd/system/cce-certd.service",
            "the user unit": root / "lib/systemd/user/cce-certd.service",
            "the sysusers.d file": root / "lib/sysusers.d/cce-certd.conf",
            "the journal catalog": root / "lib/systemd/catalog/cce-certd.catalog",
            "the tmpfiles.d file": root / "lib/tmpfiles.d/cce-certd.conf",
            "cce-certd(8)": root / "share/man/man8/cce-certd.8",
            "cce-certd.yaml(5)": root / "share/man/man5/cce-certd.yaml.5",
            "the example configuration": root / "share/doc/cce-certd/config.yaml.example",
            "the Prometheus alert rules": root / "share/doc/cce-certd/cce-certd.rules.yml",
            "the configuration": dest / str(etc).lstrip("/") / "cce-certd/config.yaml",
        }
        for what, path in expected.items():
            check(f"{what} is installed at {path.relative_to(dest)}", path.is_file())

        unit = expected["the system unit"].read_text()
        check("the system unit runs the installed binary", f"ExecStart={prefix}/bin/cce-certd --config {etc}/cce-certd/config.yaml" in unit, unit)
        for key in ("Type=notify", "ExecReload=kill -HUP $MAINPID", "WatchdogSec=", "Restart=on-failure",
                    "RestartPreventExitStatus=78", "Documentation=man:cce-certd(8)", "StateDirectory=cce-certd",
                    "ConfigurationDirectory=cce-certd", "User=cce-certd", "UMask=0077", "#LoadCredential=",
                    "#LoadCredentialEncrypted=", "ProtectSystem=strict", "ReadWritePaths=", "CapabilityBoundingSet=\n",
                    "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LimitCORE=0\n",
                    "SystemCallFilter=~@privileged @resources\nSystemCallFilter=@chown\n"):
            check(f"the system unit has {key.strip()}".replace("\n", ", then "), key in unit)
        check("the user unit has LimitCORE=0 (the daemon holds keys: no core dumps)",
              "LimitCORE=0\n" in expected["the user unit"].read_text())
        check("the sysusers.d file makes the unit's user", "u cce-certd " in expected["the sysusers.d file"].read_text())

        # The example configuration works under the system unit as shipped:
        # its kubeconfigs in the directory the tmpfiles.d entry makes for the
        # service (under ReadWritePaths=), its metrics file in the unit's
        # runtime directory.
        tmpfiles = expected["the tmpfiles.d file"].read_text()
        made = re.findall(r"^d (\S+) 0755 cce-certd cce-certd", tmpfiles, re.M)
        example = expected["the example configuration"].read_text()
        kubeconfigs = re.findall(r"^\s*kubeconfig: (\S+)", example, re.M)
        check("the example's kubeconfigs are in the directory made for the service, which it may write",
              made and kubeconfigs and all(os.path.dirname(k) == made[0] for k in kubeconfigs)
              and any(made[0].startswith(p.rstrip("/") + "/") for p in re.findall(r"^ReadWritePaths=-?(\S+)", unit, re.M)),
              (made, kubeconfigs))
        metrics = re.findall(r"^# metrics-file: (\S+)", example, re.M)
        check("the example's metrics file is in the unit's runtime directory, readable by others",
              "RuntimeDirectory=cce-certd\n" in unit and "RuntimeDirectoryMode=0755\n" in unit
              and metrics and os.path.dirname(metrics[0]) == "/run/cce-certd", metrics)
        if shutil.which("systemd-tmpfiles"):
            troot = pathlib.Path(tmp) / "tmpfiles-root"
            troot.mkdir()
            copy = pathlib.Path(tmp) / "cce-certd-tmpfiles.conf"
            copy.write_text(tmpfiles.replace(" cce-certd cce-certd ", " root root "))  # no such user here
            p = subprocess.run(["systemd-tmpfiles", "--create", f"--root={troot}", str(copy)], capture_output=True, text=True)
            made_dir = troot / made[0].lstrip("/") if made else troot
            check("systemd-tmpfiles --create makes the directory, 0755",
                  p.returncode == 0 and made_dir.is_dir() and (made_dir.stat().st_mode & 0o7777) == 0o755, p.stderr)
        else:
            skip("systemd-tmpfiles", "not installed")

        # systemd-analyze verifies a copy whose ExecStart points into the destdir.
        if shutil.which("systemd-analyze"):
            vdir = pathlib.Path(tmp) / "verify"
            vdir.mkdir()
            runtime = pathlib.Path(tmp) / "runtime"
            runtime.mkdir(mode=0o700)
            env = dict(os.environ, MANPATH=str(root / "share/man"), XDG_RUNTIME_DIR=str(runtime))
            for name, path, extra in (("system", expected["the system unit"], []),
                                      ("user", expected["the user unit"], ["--user"])):
                copy = vdir / f"cce-certd-{name}.service"
                copy.write_text(path.read_text().replace(f"{prefix}/bin/cce-certd", str(root / "bin/cce-certd")))
                p = subprocess.run(["systemd-analyze", "verify", *extra, str(copy)], capture_output=True, text=True, env=env)
                check(f"systemd-analyze verify: the {name} unit, nothing on stderr",
                      p.returncode == 0 and p.stderr == "", p.stdout + p.stderr)
            copy = vdir / "cce-certd-system.service"
            p = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)], capture_output=True, text=True, env=env)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
            score = float(m.group(1)) if m else 99
            print(f"# exposure of the system unit: {score}")
            check(f"systemd-analyze security --offline=yes: exposure {score} is at most 2.0", score <= 2.0, p.stdout[-2000:])
        else:
            skip("systemd-analyze", "not installed")

        # Man pages.
        if shutil.which("mandoc"):
            for page in (expected["cce-certd(8)"], expected["cce-certd.yaml(5)"]):
                p = subprocess.run(["mandoc", "-Tlint", str(page)], capture_output=True, text=True)
                check(f"mandoc -Tlint {page.name}: clean", p.returncode == 0 and not p.stdout and not p.stderr, p.stdout + p.stderr)
                p = subprocess.run(["mandoc", "-Tutf8", str(page)], capture_output=True, text=True)
                check(f"{page.name} renders", p.returncode == 0 and len(p.stdout) > 2000)
        else:
            skip("mandoc", "not installed")
        help_text = subprocess.run([DAEMON, "--help"], capture_output=True, text=True).stdout
        options = sorted(set(re.findall(r"(--[a-z][a-z-]+)", help_text)))
        page = expected["cce-certd(8)"].read_text().replace("\\-", "-")
        for opt in options:
            check(f"cce-certd(8) documents {opt}", opt in page)
        yaml_page = expected["cce-certd.yaml(5)"].read_text().replace("\\-", "-")
        for key in ("request-timeout", "parallel-requests", "state-directory", "metrics-file", "hook-timeout", "on-renew", "on-failure", "name", "project-id", "cluster-id",
                    "kubeconfig", "credentials", "region", "api-endpoint", "iam-endpoint", "ca-file", "duration",
                    "renew-at", "renew-before", "endpoint", "tls-server-name", "merge", "set-current-context",
                    "context-name", "cluster-entry-name", "user-entry-name", "file-mode", "owner", "group",
                    "access-key", "secret-key", "security-token", "ecs-metadata", "iam-password", "token"):
            check(f"cce-certd.yaml(5) documents {key}", re.search(r"(?<![A-Za-z-])" + re.escape(key) + r"(?![A-Za-z-])", yaml_page))

        # Catalog and code agree.
        code_ids = set(re.findall(r'"([0-9a-f]{32})"', (SOURCE / "daemon/message-id.h").read_text()))
        catalog_ids = set(re.findall(r"^-- ([0-9a-f]{32})$", expected["the journal catalog"].read_text(), re.M))
        check("every MESSAGE_ID in the code has a catalog entry", code_ids <= catalog_ids, code_ids - catalog_ids)
        check("every catalog entry is used by the code", catalog_ids <= code_ids, catalog_ids - code_ids)
        used = set()
        for src in (SOURCE / "daemon").glob("*.c"):
            used |= set(re.findall(r"MESSAGE_ID_[A-Z_]+", src.read_text()))
        defined = set(re.findall(r"#define (MESSAGE_ID_[A-Z_]+)", (SOURCE / "daemon/message-id.h").read_text()))
        check("every message id defined is logged somewhere", defined <= used, defined - used)
        if shutil.which("journalctl"):
            p = subprocess.run(["journalctl", "--update-catalog", "--root", str(dest)], capture_output=True, text=True)
            check("the catalog compiles (journalctl --update-catalog)", p.returncode == 0, p.stderr)

        # The configuration is installed only when there is none.
        conf = expected["the configuration"]
        conf.write_text("# the operator's own\n")
        p = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild", "--quiet"],
                           capture_output=True, text=True)
        check("a second install keeps the operator's configuration", conf.read_text() == "# the operator's own\n", p.stdout)
        check("the example configuration passes --check",
              subprocess.run([DAEMON, "--check", "-c", str(expected["the example configuration"])],
                             capture_output=True).returncode == 0)

    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
