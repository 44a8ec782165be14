#!/usr/bin/python3
"""The shipped Prometheus alerting rules (conf/cce-certd.rules.yml) as
Prometheus reads them: promtool check rules, and promtool test rules with
tests/prometheus/cce-certd.rules.test.yml (each alert fires when it should
and stays quiet when it should not). That the metrics they use are the ones
the daemon writes is checked against a live scrape in test-node-exporter.py.
Prints TAP."""
import os
import pathlib
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

SOURCE = pathlib.Path(os.environ["SOURCE_ROOT"])
RULES = SOURCE / "conf" / "cce-certd.rules.yml"
RULE_TESTS = SOURCE / "tests" / "prometheus" / "cce-certd.rules.test.yml"
PROMTOOL = shutil.which("promtool")


def test_rules(d):
    if not PROMTOOL:
        skip("promtool checks the alert rules", "promtool (Debian's prometheus package) is not installed")
        return
    p = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    check("promtool check rules accepts the rule file", p.returncode == 0 and "SUCCESS: 8 rules found" in p.stdout,
          p.stdout)
    # promtool resolves rule_files relative to the test file: run it on a copy
    # next to a copy of the rules, so the test does not depend on the cwd.
    (d / "conf").mkdir()
    (d / "tests" / "prometheus").mkdir(parents=True)
    shutil.copy(RULES, d / "conf")
    shutil.copy(RULE_TESTS, d / "tests" / "prometheus")
    p = subprocess.run([PROMTOOL, "test", "rules", str(d / "tests" / "prometheus" / RULE_TESTS.name)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    check("promtool test rules: every alert fires when it should and only then",
          p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout)

    # The tests can fail: a rule made laxer is caught.
    text = RULES.read_text()
    for name, old, new in (("the expiry alert a day later", "< 86400)", "< 2 * 86400)"),
                           ("the failing alert sooner", "for: 30m", "for: 20m"),
                           ("the revoked alert sooner", "for: 2m", "for: 1m"),
                           ("the down alert across an upgrade", "unless on (instance, job)", "unless")):
        assert old in text, old
        (d / "conf" / RULES.name).write_text(text.replace(old, new, 1))
        p = subprocess.run([PROMTOOL, "test", "rules", str(d / "tests" / "prometheus" / RULE_TESTS.name)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        check(f"promtool test rules catches {name}", p.returncode != 0, p.stdout)


def main():
    return run_tests([test_rules])


if __name__ == "__main__":
    sys.exit(main())
