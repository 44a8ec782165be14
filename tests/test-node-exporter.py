#!/usr/bin/python3
"""A real scrape of the metrics file: Debian's prometheus-node-exporter on
loopback, its textfile collector reading a directory that links to the
daemon's metrics file (as the README sets it up for the system unit):
no scrape error, every series of the file in the scrape, and a cluster
removed by a reload gone from it. Prints TAP."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
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
    config = write_config(d, fake, [(1, ""), (2, ""), (3, "")], extra=f"metrics-file: {metrics}")
    port = free_port()
    exporter = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                                 f"--collector.textfile.directory={textfile}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=open(d / "node-exporter.log", "w"))
    daemon = Daemon(d, config, notify)
    try:
        check("READY=1", wait_for(lambda: notify.find("READY=1"), 10), daemon.log())
        check("three certificates", wait_for(lambda: all(fake.count(i) == 1 for i in (1, 2, 3)), 10), fake.calls())
        wait_for(lambda: metrics.exists() and ("cce_certd_renewals_total", (("cluster", "c3"),)) in
                 parse_metrics(metrics.read_text()), 5)
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

        # A cluster removed by a reload leaves the scrape.
        config.write_text("\n".join(line for line in config.read_text().splitlines() if "name: c3," not in line) + "\n")
        hangup = time.time()
        daemon.proc.send_signal(signal.SIGHUP)
        check("reloaded", wait_for(lambda: notify.find("READY=1", since=hangup), 10), daemon.log())
        gone = wait_for(lambda: not any(("cluster", "c3") in k[1] for k in scrape(port))
                        and any(("cluster", "c2") in k[1] for k in scrape(port)), 10)
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


def main():
    return run_tests([test_scrape])


if __name__ == "__main__":
    sys.exit(main())
