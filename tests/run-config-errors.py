#!/usr/bin/python3
"""Golden broken configurations: runs `cce-certd --check -c NAME.yaml` on each
tests/config-errors/NAME.yaml and compares stderr with NAME.expected and the
exit status with its first line ("exit N").

Each case runs in a fresh directory holding fixtures that configurations can
name through @DIR@ (replaced by that directory's absolute path in both the
configuration and the expected output):
  @DIR@/private.secret   a secret file with mode 0600
  @DIR@/open.secret      a secret file with mode 0644
  @DIR@/empty.secret     an empty file with mode 0600
  @DIR@/dir              a directory
Output is TAP, one line per case. With --update as the second argument the
expected files are rewritten from what the daemon prints now (review the diff).
"""
import os
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WRAPPER  # noqa: E402  (valgrind when CCE_CERTD_VALGRIND=1)


def make_fixtures(d):
    for name, content, mode in (("private.secret", "x", 0o600),
                                ("open.secret", "x", 0o644),
                                ("empty.secret", "", 0o600)):
        p = d / name
        p.write_text(content)
        p.chmod(mode)
    (d / "dir").mkdir()


def run_case(daemon, case, update=False):
    expected_file = case.with_suffix(".expected")
    expected_text = "exit 78\n" if update else expected_file.read_text()
    first, _, expected = expected_text.partition("\n")
    if not first.startswith("exit "):
        return False, "expected file must start with 'exit N'"
    expected_status = int(first.split()[1])
    with tempfile.TemporaryDirectory(prefix="config-errors-") as tmp:
        d = pathlib.Path(tmp)
        make_fixtures(d)
        config = d / case.name
        config.write_bytes(case.read_bytes().replace(b"@DIR@", str(d).encode()))
        env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
        if b"# credentials-directory" in case.read_bytes():
            env["CREDENTIALS_DIRECTORY"] = str(d)
        p = subprocess.run([*WRAPPER, daemon, "--check", "-c", case.name], cwd=d, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        expected = expected.replace("@DIR@", str(d))
        stderr = p.stderr.decode("utf-8", "replace")
        if update:
            expected_file.write_text(f"exit {p.returncode}\n" + stderr.replace(str(d), "@DIR@"))
            return True, ""
    problems = []
    if p.returncode != expected_status:
        problems.append(f"exit status {p.returncode}, expected {expected_status}")
    if stderr != expected:
        problems.append("stderr differs:\n--- expected\n" + expected + "--- got\n" + stderr)
    return not problems, "\n".join(problems)


def main():
    daemon = os.path.abspath(os.environ["CCE_CERTD"])
    update = sys.argv[2:] == ["--update"]
    cases = sorted(pathlib.Path(sys.argv[1]).glob("*.yaml"))
    print(f"1..{len(cases)}")
    failed = 0
    for i, case in enumerate(cases, 1):
        ok, why = run_case(daemon, case, update)
        print(f"{'ok' if ok else 'not ok'} {i} - {case.stem}")
        if not ok:
            failed += 1
            for line in why.splitlines():
                print(f"# {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
