#!/usr/bin/python3
"""A real scrape of the metrics file: Debian's prometheus-node-exporter on
loopback, its textfile collector reading a directory that links to the
daemon's metrics file (as the README sets it up for the system unit):
no scrape error, every series of the file in the scrape, what the shipped
alert rules read there, and a cluster removed by a reload gone from it.
test_idle_refresh (meson's "metrics-refresh", about 5 minutes) waits for
an idle daemon to write the file again. Prints TAP."""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")
RULES = pathlib.Path(os.environ["SOURCE_ROOT"]) / "conf" / "cce-certd.rules.yml"
METRICS_REFRESH_SEC = 300  # daemon/metrics.h
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    """{(name, (label pairs)): value} of what node_exporter serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    series = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            series[(m.group(1), tuple(sorted(labels)))] = float(m.group(4))  # node_exporter sorts them
    return series


def test_scrape(d):
    if not NODE_EXPORTER:
        skip("a scrape by node_exporter", "prometheus-node-exporter is not installed")
        return
    fake = Fake(d, day_seconds=600)
    notify = Notify(d)
    (d / "run").mkdir()
    textfile = d / "textfile"
    textfile.mkdir()
    (textfile / "cce-certd.prom").symlink_to(d / "run/metrics.prom")
    metrics = d / "run/metrics.prom"
    config = write_config(d, fake, [(1, ""), (2, ""), (3, ", revoke-previous: true")], extra=f"metrics-file: {metrics}")
    port = free_port()
    exporter = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                                 f"--collector.textfile.directory={textfile}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=open(d / "node-exporter.log", "w"))
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("three certificates", wait_for(lambda: all(fake.count(i) == 1 for i in (1, 2, 3)), 10), fake.calls())
        check("the metrics file counts the three renewals",
              wait_for(lambda: metrics.exists() and all(
                  metric(parse_metrics(metrics.read_text()), "cce_certd_renewals_total", name=f"c{i}") == 1
                  for i in (1, 2, 3)), 5))
        ours = {(name, tuple(sorted(labels))): v for (name, labels), v in parse_metrics(metrics.read_text()).items()}
        got = {}
        check("node_exporter serves the textfile collector",
              wait_for(lambda: got.update(scrape(port)) or ("node_textfile_scrape_error", ()) in got, 10),
              (d / "node-exporter.log").read_text())
        check("node_textfile_scrape_error is 0", got.get(("node_textfile_scrape_error", ())) == 0, got)
        missing = [k for k in ours if k not in got]
        check(f"every one of the file's {len(ours)} series is in the scrape, with its value",
              not missing and all(got[k] == v for k, v in ours.items()), missing[:5])
        check("node_exporter reports the file's mtime",
              any(k[0] == "node_textfile_mtime_seconds" for k in got), [k for k in got if k[0].startswith("node_")])

        # What the shipped alert rules read is there: every cce_certd metric
        # they name, and the file's mtime under a name their regex matches.
        exprs = " ".join(r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"])
        used = set(re.findall(r"\b(cce_certd_[a-z_]+)", exprs))
        names = {k[0] for k in got}
        check(f"the {len(used)} cce_certd metrics the alert rules use are all in the scrape",
              len(used) >= 5 and used <= names, used - names)
        file_regex = re.search(r'file=~"((?:[^"\\]|\\.)*)"', exprs).group(1).replace("\\\\", "\\")
        files = [dict(k[1]).get("file", "") for k in got if k[0] == "node_textfile_mtime_seconds"]
        check("the stale-metrics rule's file regex matches the file node_exporter reports",
              any(re.fullmatch(file_regex, f) for f in files), (file_regex, files))
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=metrics.read_text(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            check("promtool check metrics finds nothing to say about the file", p.returncode == 0 and p.stdout == "",
                  p.stdout)
        else:
            skip("promtool check metrics", "promtool (Debian's prometheus package) is not installed")

        # A cluster removed by a reload leaves the scrape.
        config.write_text("\n".join(line for line in config.read_text().splitlines() if "name: c3," not in line) + "\n")
        hangup = time.time()
        daemon.proc.send_signal(signal.SIGHUP)
        check("reloaded", wait_for(lambda: notify.find("READY=1", since=hangup), 10), daemon.log())
        gone = wait_for(lambda: not any(("name", "c3") in k[1] for k in scrape(port))
                        and any(("name", "c2") in k[1] for k in scrape(port)), 10)
        check("a removed cluster's series are gone from the scrape", gone)
    finally:
        status = daemon.stop()
        check("the daemon exits 0", status == 0, daemon.log())
        exporter.terminate()  # ours, by its pid
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()
            exporter.wait()
        notify.close()
        fake.stop()


def boottime_timers(pid):
    """Seconds left on the process's armed CLOCK_BOOTTIME timerfds (sd-event
    keeps one per clock; the daemon's only boottime timer is the metrics
    refresh)."""
    left = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[timerfd]":
                continue
            info = pathlib.Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        m = re.search(r"^it_value:\s*\((\d+),\s*(\d+)\)", info, re.M)
        if re.search(r"^clockid:\s*7$", info, re.M) and m and (int(m.group(1)) or int(m.group(2))):
            left.append(int(m.group(1)) + int(m.group(2)) / 1e9)
    return left


def test_idle_refresh(d):
    """An idle daemon writes its metrics file again within five minutes, so
    that node_textfile_mtime_seconds tells a live daemon from a dead one."""
    fake = Fake(d, day_seconds=3600)  # certificates of 30 "days": no renewal while we wait
    notify = Notify(d)
    metrics = d / "metrics.prom"
    config = write_config(d, fake, [(1, ""), (2, "")], extra=f"metrics-file: {metrics}")
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("two certificates", wait_for(lambda: fake.count(1) == 1 and fake.count(2) == 1, 10), fake.calls())
        time.sleep(2)  # the last status update and its metrics write
        first = metrics.stat()
        before = parse_metrics(metrics.read_text())
        left = boottime_timers(daemon.proc.pid)
        age = time.time() - first.st_mtime
        check("one boottime timer, armed for the next write about five minutes after the last",
              len(left) == 1 and METRICS_REFRESH_SEC - age - 2 <= left[0] <= METRICS_REFRESH_SEC + 11, (left, age))
        written = wait_for(lambda: metrics.stat().st_mtime_ns != first.st_mtime_ns, METRICS_REFRESH_SEC + 30)
        again = metrics.stat()
        check("the file is written again while nothing changes", written, daemon.log())
        check("... five minutes after the last write (timer accuracy 10 s)",
              METRICS_REFRESH_SEC - 1 <= again.st_mtime - first.st_mtime <= METRICS_REFRESH_SEC + 15,
              again.st_mtime - first.st_mtime)
        check("... replaced atomically, with the same series", again.st_ino != first.st_ino and
              parse_metrics(metrics.read_text()).keys() == before.keys())
        check("no call was made meanwhile", fake.count(1) == 1 and fake.count(2) == 1, fake.calls())
    finally:
        check("the daemon exits 0", daemon.stop() == 0, daemon.log())
        notify.close()
        fake.stop()


def main():
    tests = [test_scrape, test_idle_refresh]
    if len(sys.argv) < 2:
        tests.remove(test_idle_refresh)  # five minutes: run by name, as meson's "metrics-refresh"
    return run_tests(tests)


if __name__ == "__main__":
    sys.exit(main())
