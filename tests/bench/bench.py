#!/usr/bin/python3
"""Benchmark: the daemon with N clusters against the fake cloud.

For each N it measures, as the median of --runs runs:
  renew-all   time to renew all N clusters when all are due, renewals/s
              (no kubeconfig exists yet)
  cpu         the daemon's CPU time (user+sys) per renewal, and the fake's
              per call
  steady      the same when all N kubeconfigs exist and are due, as at
              every renewal but a file's first: renewals/s and CPU per
              renewal (counted from READY=1) in the third round, after a
              warm-up round (not with --merge)
  rss         the daemon's peak RSS (VmHWM)
  calls       API calls per renewal (must be exactly 1)
  ready       time from start to READY=1 with N valid kubeconfigs on disk
  idle        context switches of the daemon over --idle seconds with nothing
              due, without and with the watchdog (WATCHDOG_USEC=30s)
and the fake service's own ceiling: clustercert calls/s it serves to a
minimal client (curl over 1, 2, 4, 8 and 16 keep-alive connections, the
best), so the daemon's throughput can be read as a share of it, and curl's
CPU time per call there. The daemon runs with parallel-requests one above
the best number of connections (or --parallel): the Python fake serves
fewer calls/s the more requests it has at once, and one request more keeps
it as busy while the daemon writes an answer.

The fake service is fast-fake (--fake fast, the default: C, answers minted
before the runs by answer-pool.py with the Python fake's code, over 10,000
calls/s here, so that what is measured is the daemon) or the Python fake
(--fake python: every answer minted and every request authenticated when
asked, 700-1,000 calls/s). Discovery (--discover) always uses the Python
fake: only it lists projects.

  python3 tests/bench/bench.py --daemon build/daemon/cce-certd --sizes 100,1000,10000
  python3 tests/bench/bench.py --daemon build/daemon/cce-certd --sizes 1000 --merge   # one shared file

With --discover P (or a list: each in turn), the N clusters are not in the configuration: they are
spread over P projects of the fake, and the configuration is P discover
entries (a few lines). Measured instead, as the median of --runs runs:
  READY       from start to READY=1, first with nothing found yet, then at
              a restart with the N found (and their files) known
  first round from READY=1 to every one of the N kubeconfigs written (the
              listings, then N renewals), renewals/s and CPU per 1,000
  listing CPU the daemon's CPU time from READY=1 at that restart until its
              P listings were answered and taken in (nothing new in them)
  rss         the daemon's peak RSS (VmHWM)
  calls       API calls per renewal (must be exactly 1; none at the restart)

  python3 tests/bench/bench.py --daemon build/daemon/cce-certd --sizes 10000 --discover 1,10

Each daemon's log goes to daemon-*.log in its run's directory; BENCH_KEEP=1
keeps the runs' directories. --perf FILE records the measured steady round
with perf, for tests/bench/perf-steps.py; --syscalls counts its system calls
(perf, raw_syscalls:sys_enter) and prints them per renewal. Loopback only;
everything started here is stopped here."""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
FAKE = HERE.parent / "fake-cce.py"
ANSWER_POOL = HERE / "answer-pool.py"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN = "MIIbench-static-token"
CLK = os.sysconf("SC_CLK_TCK")


def cluster_id(i):
    return "22222222-0000-0000-0000-%012d" % i


class Fake:
    """The Python fake (tests/fake-cce.py): every answer minted when asked,
    every request authenticated; serves 700-1,000 calls/s here."""

    def __init__(self, d):
        (d / "accounts.json").write_text(json.dumps({"tokens": [TOKEN]}))
        self.proc = subprocess.Popen(["/usr/bin/python3", str(FAKE), "--state-dir", str(d / "fake"),
                                      "--accounts", str(d / "accounts.json"), "--day-seconds", "86400",
                                      "--lifetime", "3600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.ca = d / "fake" / "ca.pem"
        self.ctx = ssl.create_default_context(cafile=str(self.ca))

    def total(self):
        # One kept-alive connection: a TLS handshake per poll would take
        # the fake's CPU from the daemon's requests.
        if not getattr(self, "conn", None):
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            self.conn.request("GET", "/_fake/calls/total")
            return json.loads(self.conn.getresponse().read())["clustercert_total"]
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise

    def request(self, method, path, body=None):
        if not getattr(self, "conn", None):
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers={"Content-Type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def stop(self):
        if getattr(self, "conn", None):
            self.conn.close()
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class FastFake(Fake):
    """fast-fake (C): answers from a pool minted before by answer-pool.py,
    no authentication; over 10,000 calls/s here, so that the daemon is what
    is measured. Only clustercert and the call count."""
    binary = None   # set by main()
    pool = None     # the directory answer-pool.py filled

    def __init__(self, d):
        self.proc = subprocess.Popen([self.binary, "--pool", str(self.pool / "answers.jsonl"),
                                      "--cert", str(self.pool / "server.pem"), "--lifetime", "3600"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.ca = self.pool / "ca.pem"
        self.ctx = ssl.create_default_context(cafile=str(self.ca))

    @classmethod
    def prepare(cls, binary, parent, count):
        """Mints the pool (count answers, every one distinct) once, in parent."""
        cls.binary = binary
        cls.pool = pathlib.Path(parent) / "answer-pool"
        t0 = time.monotonic()
        subprocess.run([sys.executable, str(ANSWER_POOL), "--dir", str(cls.pool), "--count", str(count)], check=True)
        return time.monotonic() - t0


def write_config(d, fake, n, merge=False, parallel=16, duration=30, renew_before=None):
    secret = d / "token"
    secret.write_text(TOKEN)
    secret.chmod(0o600)
    (d / "kube").mkdir(exist_ok=True)
    lines = [f"state-directory: {d}/state", f"parallel-requests: {parallel}", "defaults:",
             f"  api-endpoint: https://127.0.0.1:{fake.port}", f"  ca-file: {fake.ca}", "  credentials: t",
             f"  duration: {duration}", *([f"  renew-before: {renew_before}"] if renew_before else []),
             "credentials:", f"  t: {{token: {{file: {secret}}}}}", "clusters:"]
    for i in range(n):
        where = f"merge: true, kubeconfig: {d}/kube/shared" if merge else f"kubeconfig: {d}/kube/c{i}"
        lines.append(f"  - {{name: c{i}, project-id: {PROJECT}, cluster-id: {cluster_id(i)}, {where}}}")
    path = d / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK  # utime + stime
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    hwm = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])  # KiB
    switches = sum(int(l.split()[1]) for l in status.splitlines() if "ctxt_switches" in l)
    return cpu, hwm, switches


class Notify:
    """A NOTIFY_SOCKET read all along: a datagram socket nobody reads fills
    up, and then the daemon's sd_notify() blocks (systemd always reads)."""

    def __init__(self, d):
        self.path = str(d / f"notify-{time.time_ns()}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.ready_at = None
        self.ready = threading.Event()
        self.closing = False
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while not self.closing:
            try:
                data = self.sock.recv(65536).decode()
            except socket.timeout:
                continue
            if not self.ready.is_set() and "READY=1" in data.split("\n"):
                self.ready_at = time.monotonic()
                self.ready.set()

    def wait_ready(self, timeout):
        if not self.ready.wait(timeout):
            raise TimeoutError("no READY=1")
        return self.ready_at

    def close(self):
        self.closing = True
        self.thread.join()
        self.sock.close()


def start(daemon, config, d, env=None):
    notify = Notify(d)
    e = dict(os.environ, NOTIFY_SOCKET=notify.path, **(env or {}))
    e.pop("WATCHDOG_USEC", None) if not env or "WATCHDOG_USEC" not in env else None
    t0 = time.monotonic()
    with open(d / f"daemon-{time.time_ns()}.log", "w") as log:
        p = subprocess.Popen([daemon, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=log, env=e)
    return p, notify, t0


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def written(d, n, merge):
    """How many clusters have their certificate on disk: files, or with
    --merge the entries of the shared file (a cheap count of its lines)."""
    if not merge:
        return sum(1 for _ in (d / "kube").iterdir())
    try:
        return (d / "kube/shared").read_text().count("client-certificate-data: ")
    except FileNotFoundError:
        return 0


def replaced_since(d, n, t0_ns):
    """Whether all N kubeconfigs were written since t0_ns (locks and new
    files not yet in place come and go meanwhile: not counted)."""
    def written_since(p):
        try:
            return p.stat().st_mtime_ns >= t0_ns
        except FileNotFoundError:
            return False
    return sum(1 for p in (d / "kube").iterdir()
               if not p.name.startswith(".") and not p.name.endswith(".lock") and written_since(p)) >= n


def syscall_names():
    """System call numbers to names, from the kernel headers."""
    names = {}
    with open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
                names[int(parts[2])] = parts[1][5:]
    return names


def syscalls_per_renewal(recording):
    """From a perf recording of raw_syscalls:sys_enter over a steady round:
    {name: calls per renewal}, counted per fsync (one per renewal: the new
    kubeconfig's; perf starts after the first renewals, so not per N)."""
    out = subprocess.run(["perf", "script", "-F", "trace", "-i", recording], capture_output=True, text=True,
                         check=True).stdout
    names, counts = syscall_names(), {}
    for line in out.splitlines():
        nr = line.split("NR ", 1)[1].split()[0] if "NR " in line else None
        if nr is not None:
            name = names.get(int(nr), nr)
            counts[name] = counts.get(name, 0) + 1
    renewals = counts.get("fsync", 0)
    return {k: v / renewals for k, v in counts.items()} if renewals else {}


def renew_again(daemon, fake, d, n, parallel, duration, perf=None, syscalls=False):
    """Makes all N existing kubeconfigs due (asks for DURATION-day
    certificates, renewed with DURATION-1 days left: the 30-day ones on disk
    are due at once, the new ones are not) and renews them: seconds and CPU
    seconds from READY=1 to the last file written. With perf (a file name),
    `perf record` samples the daemon with call graphs from READY=1 to the
    last file written (the profile tests/bench/perf-steps.py reads). With
    syscalls, its system calls are counted over that time and printed."""
    config = write_config(d, fake, n, False, parallel, duration=duration, renew_before=f"{duration - 1}d")
    # The daemon renews a cluster no sooner than a tenth of the lifetime
    # after its last success: forget that.
    for state in (d / "state/clusters").glob("*.json"):
        record = json.loads(state.read_text())
        record["last-success"] = 0
        with open(state, "r+") as f:
            f.write(json.dumps(record))
            f.truncate()
    base = fake.total()
    # Files written from here on are this round's: the daemon may write the
    # first ones before we see READY=1.
    t0_ns = time.time_ns()
    p, notify, _ = start(daemon, config, d)
    notify.wait_ready(120)
    t_ready = time.monotonic()
    recorder = None
    if perf:
        recorder = subprocess.Popen(["perf", "record", "-q", "-F", "999", "--call-graph", "dwarf,16384",
                                     "-p", str(p.pid), "-o", perf], stdin=subprocess.DEVNULL)
    elif syscalls:
        recorder = subprocess.Popen(["perf", "record", "-q", "-e", "raw_syscalls:sys_enter", "-p", str(p.pid),
                                     "-o", str(d / "syscalls.perf")], stdin=subprocess.DEVNULL)
    cpu0, _, _ = proc_stats(p.pid)
    fake_cpu0 = proc_stats(fake.proc.pid)[0]
    while fake.total() < base + n:
        time.sleep(0.05)
        if p.poll() is not None:
            raise RuntimeError("the daemon died")
    while not replaced_since(d, n, t0_ns):
        time.sleep(0.05)
    t_done = time.monotonic()
    cpu, hwm, _ = proc_stats(p.pid)
    fake_cpu = proc_stats(fake.proc.pid)[0] - fake_cpu0
    if recorder:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=600)
    stop(p)
    notify.close()
    if syscalls and not perf:
        per = syscalls_per_renewal(str(d / "syscalls.perf"))
        print(f"system calls per steady renewal (N={n}): {sum(per.values()):.1f}: "
              + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.05),
              flush=True)
    return t_done - t_ready, cpu - cpu0, hwm, fake_cpu


def renew_all(daemon, config, d, fake, n, merge):
    """Starts the daemon with no kubeconfig written: from start to READY=1,
    from READY=1 until all N are written (the answers, then the files),
    renewals/s, CPU per 1,000 renewals, calls per renewal, peak RSS."""
    fake_cpu0 = proc_stats(fake.proc.pid)[0]
    p, notify, t0 = start(daemon, config, d)
    t_ready = notify.wait_ready(60)
    while fake.total() < n or written(d, n, merge) < n:
        time.sleep(0.02)
        if p.poll() is not None:
            raise RuntimeError("the daemon died")
    t_done = time.monotonic()
    cpu, hwm, _ = proc_stats(p.pid)
    fake_cpu = proc_stats(fake.proc.pid)[0] - fake_cpu0
    stop(p)
    notify.close()
    return {"ready_s": t_ready - t0, "renew_s": t_done - t_ready, "renewals_per_s": n / (t_done - t_ready),
            "cpu_ms_per_1000": cpu * 1000 / n * 1000, "calls_per_renewal": fake.total() / n, "rss_kib": hwm,
            "fake_cpu_ms_per_1000": fake_cpu * 1000 / n * 1000}


def one_run(daemon, n, idle_seconds, merge, parallel, parent, fake_class, perf=None, syscalls=False):
    """One run in a new directory under parent, which is removed only when
    the benchmark ends: on ext4 without a journal, every file created skips
    over the inodes deleted in the last minutes, so removing a run's
    thousands of files would slow the next run's file creation."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    fake = fake_class(d)
    config = write_config(d, fake, n, merge, parallel)
    r = {}
    try:
        # 1. Everything due: renew all N.
        r.update(renew_all(daemon, config, d, fake, n, merge))

        # 2. Start with N valid files: time to READY=1; then idle.
        for label, env in (("idle", {}), ("idle_watchdog", {"WATCHDOG_USEC": "30000000"})):
            p, notify, t0 = start(daemon, config, d, env)
            t_ready = notify.wait_ready(120)
            if label == "idle":
                r["ready_s"] = t_ready - t0
            time.sleep(1)
            _, hwm, s0 = proc_stats(p.pid)
            time.sleep(idle_seconds)
            _, hwm, s1 = proc_stats(p.pid)
            r[label + "_wakeups_per_min"] = (s1 - s0) * 60 / idle_seconds
            r["rss_kib"] = max(r["rss_kib"], hwm)
            stop(p)
            notify.close()
        r["calls_after_restarts"] = fake.total() - n

        # 3. All N files exist and are due, twice: the first round warms up,
        # the second is measured.
        if not merge:
            renew_again(daemon, fake, d, n, parallel, 60)
            seconds, cpu, hwm, fake_cpu = renew_again(daemon, fake, d, n, parallel, 90, perf, syscalls)
            r["steady_per_s"] = n / seconds
            r["steady_cpu_ms_per_1000"] = cpu * 1000 / n * 1000
            r["steady_fake_cpu_ms_per_1000"] = fake_cpu * 1000 / n * 1000
            r["rss_kib"] = max(r["rss_kib"], hwm)
            r["steady_calls_per_renewal"] = (fake.total() - n) / (2 * n)
    finally:
        fake.stop()
    return r


def project_id(p):
    return "%032x" % (0xd15c0 + p)


def discovery_config(d, fake, projects, parallel):
    secret = d / "token"
    secret.write_text(TOKEN)
    secret.chmod(0o600)
    (d / "kube").mkdir(exist_ok=True)
    lines = [f"state-directory: {d}/state", f"parallel-requests: {parallel}", "defaults:",
             f"  api-endpoint: https://127.0.0.1:{fake.port}", f"  ca-file: {fake.ca}", "  credentials: t",
             "  duration: 30", "credentials:", f"  t: {{token: {{file: {secret}}}}}", "discover:"]
    for p in range(projects):
        lines += [f"  - project-id: {project_id(p)}", f"    kubeconfig: {d}/kube/{{name}}", "    interval: 1h"]
    path = d / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def settled_cpu(pid, quiet=1.0):
    """The process's CPU time once it has used none for quiet seconds."""
    last, since = proc_stats(pid)[0], time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        cpu = proc_stats(pid)[0]
        if cpu != last:
            last, since = cpu, time.monotonic()
    return last


def discovery_run(daemon, n, projects, parallel, parent):
    """One run of the discovery mode (see the top) in a new directory under parent."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    fake = Fake(d)
    r = {}
    try:
        per = n // projects
        for p in range(projects):
            fake.request("POST", "/_fake/clusters", {"project_id": project_id(p), "clusters": [
                {"cluster_id": cluster_id(p * per + i), "name": f"p{p}-c{i}"} for i in range(per)]})
        config = discovery_config(d, fake, projects, parallel)

        # 1. Nothing found yet: list, then write all N.
        r.update(renew_all(daemon, config, d, fake, n, False))

        # 2. A restart: READY from what was found, then the listings change nothing.
        lists = sum(fake.request("GET", "/_fake/calls")["list"].values())
        p, notify, t0 = start(daemon, config, d)
        t_ready = notify.wait_ready(120)
        cpu0 = proc_stats(p.pid)[0]
        r["ready_restart_s"] = t_ready - t0
        while sum(fake.request("GET", "/_fake/calls")["list"].values()) < lists + projects:
            time.sleep(0.05)
        r["listing_cpu_s"] = settled_cpu(p.pid) - cpu0
        _, hwm, _ = proc_stats(p.pid)
        r["rss_kib"] = max(r["rss_kib"], hwm)
        stop(p)
        notify.close()
        r["calls_after_restart"] = fake.total() - n
    finally:
        fake.stop()
    return r


def fake_ceiling(requests, parallel, fake_class):
    """The fake's own rate: curl (a C client, keep-alive) asking for
    requests certificates over p connections, for each p in parallel.
    Returns {p: calls/s} and {p: curl's CPU seconds per call}, the cost of
    a request and its answer to a libcurl client that does nothing else.
    The Python fake is one process whose threads share one lock (the GIL):
    it serves fewer calls/s the more connections are busy at once."""
    rates, client_cpu = {}, {}
    with tempfile.TemporaryDirectory(prefix="cce-certd-bench-fake-") as tmp:
        d = pathlib.Path(tmp)
        fake = fake_class(d)
        try:
            for p in parallel:
                urls = d / "urls"
                with open(urls, "w") as f:
                    for i in range(requests):
                        f.write(f'url = "https://127.0.0.1:{fake.port}/api/v3/projects/{PROJECT}/clusters/'
                                f'{cluster_id(p * 1000000 + i)}/clustercert"\noutput = /dev/null\n')
                t0 = time.monotonic()
                before = os.times()
                out = subprocess.run(["curl", "--silent", "--parallel", "--parallel-max", str(p), "--cacert", str(fake.ca),
                                      "-H", f"X-Auth-Token: {TOKEN}", "-H", "Content-Type: application/json",
                                      "--data", json.dumps({"duration": 30}), "--write-out", "%{http_code}\n",
                                      "--config", str(urls)], capture_output=True, text=True, check=True).stdout
                rates[p] = out.split().count("200") / (time.monotonic() - t0)
                after = os.times()
                client_cpu[p] = (after.children_user + after.children_system
                                 - before.children_user - before.children_system) / requests
        finally:
            fake.stop()
    return rates, client_cpu


def median_rows(cases, runs, run_one, report):
    """For each case, the medians of runs calls of run_one(case, parent),
    given to report(case, medians), which says whether the row is right.
    The runs' directories are made under one parent, removed at the end
    (BENCH_KEEP=1 keeps them). Returns whether every row was right."""
    ok = True
    # mkdtemp, not TemporaryDirectory: that one removes itself at exit, also with BENCH_KEEP.
    parent = tempfile.mkdtemp(prefix="cce-certd-bench-")
    try:
        for case in cases:
            results = [run_one(case, parent) for _ in range(runs)]
            ok = report(case, {k: statistics.median(r[k] for r in results) for k in results[0]}) and ok
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"kept: {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", default=os.environ.get("CCE_CERTD", "build/daemon/cce-certd"))
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--merge", action="store_true", help="all clusters merged into one kubeconfig (N up to ~1,500)")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--ceiling-requests", type=int, default=5000)
    ap.add_argument("--parallel", type=int, help="the daemon's parallel-requests (default: the fake's best p + 1)")
    ap.add_argument("--discover", metavar="P[,P...]",
                    help="the clusters discovered in P projects (each P in turn), not configured")
    ap.add_argument("--fake", choices=("fast", "python"), default="fast",
                    help="fast: tests/bench/fast-fake (C, answers minted before; the default); python: tests/fake-cce.py")
    ap.add_argument("--perf", metavar="FILE",
                    help="record the measured steady round with perf (call graphs) into FILE, for perf-steps.py")
    ap.add_argument("--syscalls", action="store_true",
                    help="count the measured steady round's system calls (perf) and print them per renewal")
    ap.add_argument("--fast-fake", help="the fast-fake binary (default: tests/fast-fake next to the daemon's build)")
    args = ap.parse_args()
    daemon = os.path.abspath(args.daemon)
    if args.discover:
        return discovery_main(args, daemon)

    fake_class = Fake
    pool_parent = tempfile.mkdtemp(prefix="cce-certd-bench-pool-")
    try:
        if args.fake == "fast":
            binary = args.fast_fake or str(pathlib.Path(daemon).parent.parent / "tests" / "fast-fake")
            sizes = [int(x) for x in args.sizes.split(",")]
            count = max(2000, max(sizes) * 6 // 5, args.ceiling_requests)
            seconds = FastFake.prepare(binary, pool_parent, count)
            print(f"fake service: fast-fake, {count} answers minted in {seconds:.1f} s by answer-pool.py "
                  f"(EC P-256, every 64th RSA 2048), each served once per turn of the pool")
            fake_class = FastFake
        else:
            print("fake service: tests/fake-cce.py (mints every answer when asked)")
        return measure(args, daemon, fake_class)
    finally:
        shutil.rmtree(pool_parent, ignore_errors=True)


def measure(args, daemon, fake_class):
    rates, client_cpu = fake_ceiling(args.ceiling_requests, (1, 2, 4, 8, 16), fake_class)
    parallel, ceiling = max(rates.items(), key=lambda item: item[1])
    print(f"fake service ceiling: {ceiling:.0f} clustercert calls/s (curl, {args.ceiling_requests} requests over "
          f"p keep-alive connections, the best p; "
          + ", ".join(f"p={p}: {r:.0f}/s" for p, r in rates.items()) + f"); "
          f"curl's own CPU per call at p={parallel}: {client_cpu[parallel] * 1000:.3f} ms")
    parallel = args.parallel or parallel + 1
    print(f"the daemon runs with parallel-requests: {parallel}" + ("" if args.parallel else " (the fake's best p + 1)"))
    print(f"{'N':>6} {'renew all':>10} {'renewals/s':>11} {'of ceiling':>10} {'CPU/ren':>9} {'fake/ren':>9} "
          f"{'peak RSS':>9} {'calls/ren':>9} {'READY':>8} {'idle wakeups/min':>17} {'+watchdog':>10} {'steady/s':>9} "
          f"{'of ceiling':>10} {'CPU/ren':>9} {'fake/ren':>9}")
    def report(n, med):
        print(f"{n:>6} {med['renew_s']:>9.2f}s {med['renewals_per_s']:>11.0f} {med['renewals_per_s'] / ceiling:>9.0%} "
              f"{med['cpu_ms_per_1000'] / 1000:>7.2f}ms {med['fake_cpu_ms_per_1000'] / 1000:>7.3f}ms "
              f"{med['rss_kib'] / 1024:>7.1f}MiB {med['calls_per_renewal']:>9.2f} "
              f"{med['ready_s'] * 1000:>6.0f}ms {med['idle_wakeups_per_min']:>17.1f} {med['idle_watchdog_wakeups_per_min']:>10.1f}"
              + (f" {med['steady_per_s']:>9.0f} {med['steady_per_s'] / ceiling:>9.0%} "
                 f"{med['steady_cpu_ms_per_1000'] / 1000:>7.2f}ms {med['steady_fake_cpu_ms_per_1000'] / 1000:>7.3f}ms"
                 if "steady_per_s" in med else ""),
              flush=True)
        return med["calls_per_renewal"] == 1 and med["calls_after_restarts"] == 0 \
            and med.get("steady_calls_per_renewal", 1) == 1

    ok = median_rows([int(x) for x in args.sizes.split(",")], args.runs,
                     lambda n, parent: one_run(daemon, n, args.idle, args.merge, parallel, parent, fake_class,
                                               args.perf, args.syscalls), report)
    if not ok:
        print("FAILED: not exactly one API call per renewal, or restarts made calls")
    return 0 if ok else 1


def discovery_main(args, daemon):
    parallel = args.parallel or 9
    print(f"discovery: the N clusters in P projects, one discover entry each; parallel-requests: {parallel}; "
          f"median of {args.runs} runs")
    print(f"{'N':>6} {'projects':>8} {'READY':>8} {'first round':>12} {'renewals/s':>11} {'CPU/1000':>9} "
          f"{'READY again':>12} {'listing CPU':>12} {'peak RSS':>9} {'calls/ren':>9}")
    def report(case, med):
        n, projects = case
        print(f"{n:>6} {projects:>8} {med['ready_s'] * 1000:>6.0f}ms {med['renew_s']:>11.2f}s "
              f"{med['renewals_per_s']:>11.0f} {med['cpu_ms_per_1000'] / 1000:>7.2f}ms "
              f"{med['ready_restart_s'] * 1000:>10.0f}ms {med['listing_cpu_s'] * 1000:>10.0f}ms "
              f"{med['rss_kib'] / 1024:>7.1f}MiB {med['calls_per_renewal']:>9.2f}", flush=True)
        return med["calls_per_renewal"] == 1 and med["calls_after_restart"] == 0

    ok = median_rows([(int(x), int(p)) for x in args.sizes.split(",") for p in args.discover.split(",")], args.runs,
                     lambda case, parent: discovery_run(daemon, *case, parallel, parent), report)
    if not ok:
        print("FAILED: not exactly one API call per renewal, or the restart made calls")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
