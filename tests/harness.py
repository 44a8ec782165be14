"""What the tests that run the built daemon share: the fake cloud, our own
NOTIFY_SOCKET and journal listeners, configurations, the daemon as systemd
would start it, TAP output, and the collection of everything a test logged
or wrote (tests/reliability/test-secrets-sweep.py searches it for secrets).
Every wait is bounded."""
import base64
import json
import os
import re
import pathlib
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

DAEMON = os.path.abspath(os.environ["CCE_CERTD"])
# CCE_CERTD_VALGRIND=1 runs every daemon under valgrind memcheck: an error
# or a leak makes it exit 99, which fails the checks of its exit status.
WRAPPER = (["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect"] if os.environ.get("CCE_CERTD_VALGRIND") else [])
FAKE = pathlib.Path(__file__).resolve().parent / "fake-cce.py"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
AK, SK = "HPUAEXAMPLEAK0000001", "ExampleSecretKey00000000000000000000000001"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {name}", flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-40:]:
            print(f"# {line}", flush=True)


def skip(name, reason):
    results.append((name, True, ""))
    print(f"ok {len(results)} - {name} # SKIP {reason}", flush=True)


def dead_pid():
    """The pid of a process that has ended."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def leftovers(directory):
    """What writers left in a kubeconfig directory: new files not renamed
    into place (.NAME.cce-certd-*), locks, spares of earlier versions."""
    return sorted(p.name for p in pathlib.Path(directory).iterdir()
                  if ".cce-certd-" in p.name or p.name.endswith(".lock"))


def files_with_private_keys(directory):
    """Every file under directory that holds a private key (PEM, or the
    base64 of a PEM as in client-key-data)."""
    found = []
    for root, _, names in os.walk(directory):
        for name in names:
            path = pathlib.Path(root) / name
            try:
                data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            except OSError:
                continue
            if b"PRIVATE KEY" in data or b"client-key-data" in data or b"LS0tLS1CRUdJTi" in data:
                found.append(str(path))
    return sorted(found)


def wait_for(cond, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def cluster_id(i):
    return "11111111-0000-0000-0000-%012d" % i


class Fake:
    def __init__(self, d, day_seconds, extra_accounts=None, skew_seconds=0, hang_seconds=60, lifetime=600):
        self.test_dir = d
        self.dir = d / "fake"
        accounts = {"aksk": {AK: SK}, "missing_clusters": [cluster_id(404)]}
        accounts.update(extra_accounts or {})
        (d / "accounts.json").write_text(json.dumps(accounts))
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(FAKE), "--state-dir", str(self.dir), "--accounts", str(d / "accounts.json"),
             "--day-seconds", str(day_seconds), "--lifetime", str(lifetime), "--hang-seconds", str(hang_seconds),
             "--skew-seconds", str(skew_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        _, port, metadata_port, apiserver_port = self.proc.stdout.readline().split()
        self.port, self.metadata_port, self.apiserver_port = int(port), int(metadata_port), int(apiserver_port)
        self.ca = self.dir / "ca.pem"
        self.ctx = ssl.create_default_context(cafile=str(self.ca))

    def control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", data=data, context=self.ctx, timeout=10) as r:
            return json.load(r)

    def calls(self):
        return self.control("/_fake/calls")

    def count(self, i):
        return self.calls()["clustercert"].get(cluster_id(i), 0)

    def fault(self, i, fault, sticky=False):
        self.control("/_fake/faults", {"cluster_id": cluster_id(i), "faults": [fault], "sticky": sticky})

    def clear_faults(self):
        self.control("/_fake/clear-faults", {})

    def requests(self, i=None):
        """Every clustercert call (of cluster i): cluster id, time, fault."""
        return [r for r in self.control("/_fake/requests") if i is None or r["cluster_id"] == cluster_id(i)]

    def issued(self):
        """Every clustercert answer: cluster id, serial, times received and
        answered, certificate dates, the fault injected."""
        return self.control("/_fake/issued")

    def stop(self):
        # What the fake knew or handed out as secrets, for the secrets sweep.
        try:
            (self.test_dir / SECRETS_SEEN).write_text(json.dumps(self.control("/_fake/secrets")))
        except OSError:
            pass
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class DatagramListener:
    """A Unix datagram socket of our own at d/NAME, read by a thread that
    hands each datagram to received(); close() saves what came to a file
    next to it (save()), for the secrets sweep."""

    def __init__(self, d, name):
        self.path = str(d / name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while self.running:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received(data)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()
        self.save()


class Notify(DatagramListener):
    """A NOTIFY_SOCKET of our own: collects every datagram with its time."""

    def __init__(self, d):
        self.messages = []
        super().__init__(d, "notify")

    def received(self, data):
        self.messages.append((time.time(), data.decode()))

    def find(self, text, since=0.0):
        return [(t, m) for t, m in self.messages if t >= since and text in m]

    def save(self):
        with open(self.path + ".txt", "w") as f:
            f.writelines(m + "\n" for _, m in self.messages)


class Journal(DatagramListener):
    """A journal socket of our own, read in the native protocol."""

    def __init__(self, d):
        self.records = []
        super().__init__(d, "journal")

    @staticmethod
    def parse(data):
        fields, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                fields[k.decode()] = v.decode()
                i = nl + 1
            else:
                (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
                fields[line.decode()] = data[nl + 9:nl + 9 + n].decode()
                i = nl + 9 + n + 1
        return fields

    def received(self, data):
        record = self.parse(data)
        record["_RECEIVED"] = time.time()  # ours, not the daemon's
        self.records.append(record)

    def find(self, **fields):
        return [r for r in self.records if all(r.get(k) == v for k, v in fields.items())]

    def save(self):
        with open(self.path + ".json", "w") as f:
            json.dump(self.records, f, indent=1)


def write_config(d, fake, clusters, extra="", credentials=(), request_timeout="5s", credential_lines=()):
    """A configuration for the clusters [(i, ", more: settings")], named ci,
    with credentials ops and other, and any more names given, all of the
    same access key; credential_lines are more entries, as written."""
    secrets = d / "secrets"
    secrets.mkdir(exist_ok=True)
    for name, value in (("ak", AK), ("sk", SK), ("wrong-sk", "NotTheSecret")):
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o600)
    (d / "kube").mkdir(exist_ok=True)
    lines = [f"state-directory: {d}/state", f"request-timeout: {request_timeout}", extra,
             "defaults:", f"  api-endpoint: https://127.0.0.1:{fake.port}", f"  ca-file: {fake.ca}",
             "  credentials: ops", "  duration: 1", "  renew-at: 50%",
             "credentials:",
             f"  ops: {{access-key: {{file: {secrets}/ak}}, secret-key: {{file: {secrets}/sk}}}}",
             *(f"  {name}: {{access-key: {{file: {secrets}/ak}}, secret-key: {{file: {secrets}/sk}}}}"
               for name in ("other", *credentials)),
             *(f"  {line}" for line in credential_lines),
             "clusters:"]
    for i, settings in clusters:
        kubeconfig = "" if "kubeconfig:" in settings else f", kubeconfig: {d}/kube/c{i}"
        lines.append(f"  - {{name: c{i}, project-id: {PROJECT}, cluster-id: {cluster_id(i)}{kubeconfig}{settings}}}")
    path = d / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Daemon:
    """The daemon as systemd starts it: our NOTIFY_SOCKET if given, and with
    a journal, records sent there (JOURNAL_STREAM names its stderr, as
    systemd does), otherwise "<N>message" lines on stderr."""

    def __init__(self, d, config, notify=None, env=None, args=(), journal=None, wrapper=None):
        self.stderr_path = d / f"daemon-{time.time_ns()}.log"
        self.stderr = open(self.stderr_path, "w")
        self.journal = journal
        e = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
        if notify:
            e["NOTIFY_SOCKET"] = notify.path
        if journal:
            st = os.fstat(self.stderr.fileno())
            e.update(CCE_CERTD_JOURNAL_SOCKET=journal.path, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        e.update(env or {})
        self.proc = subprocess.Popen([*(WRAPPER if wrapper is None else wrapper), DAEMON, "-c", str(config), *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr, env=e)

    def log(self):
        if not self.stderr.closed:
            self.stderr.flush()
        text = self.stderr_path.read_text()
        if self.journal:
            text += "".join(f"<{r.get('PRIORITY')}>{r.get('MESSAGE')}\n" for r in list(self.journal.records))
        return text

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.stderr.close()


class KubeconfigReader:
    """Reads kubeconfigs ({key: path}) again and again in a thread of its
    own; remembers the serial of each certificate seen and every read that
    was not whole: missing, partial, unparsable, or a key that does not
    match the certificate."""

    def __init__(self, paths):
        self.paths = paths
        self.seen = {k: set() for k in paths}
        self.bad = []
        self.reads = 0
        self.checked = {}  # (cert, key) data -> serial, or an exception text
        self.stop = threading.Event()
        self.read_all()  # what is there before the thread starts is seen
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def serial(self, cert_data, key_data):
        k = (cert_data, key_data)
        if k not in self.checked:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            try:
                cert = x509.load_pem_x509_certificate(base64.b64decode(cert_data))
                key = serialization.load_pem_private_key(base64.b64decode(key_data), None)
                pub = serialization.PublicFormat.SubjectPublicKeyInfo
                enc = serialization.Encoding.DER
                if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
                    raise ValueError("the key does not match the certificate")
                self.checked[k] = "%x" % cert.serial_number
            except Exception as e:
                self.checked[k] = e
        if isinstance(self.checked[k], Exception):
            raise self.checked[k]
        return self.checked[k]

    def loop(self):
        while not self.stop.is_set():
            self.read_all()
            time.sleep(0.005)

    def read_all(self):
        for k, path in list(self.paths.items()):
            try:
                with open(path, "rb") as f:
                    doc = yaml.load(f.read(), Loader=YAML_LOADER)
                user = doc["users"][0]["user"]
                self.seen[k].add(self.serial(user["client-certificate-data"], user["client-key-data"]))
                self.reads += 1
            except Exception as e:  # missing, partial, unparsable, mismatched
                self.bad.append(f"{path}: {type(e).__name__}: {e}")

    def close(self):
        self.stop.set()
        self.thread.join()

    def serial_in(self, path):
        """The serial of the certificate in a kubeconfig, checked like a read."""
        user = yaml.safe_load(pathlib.Path(path).read_text())["users"][0]["user"]
        return self.serial(user["client-certificate-data"], user["client-key-data"])


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? '
                         r'(-?[0-9.e+]+|\+Inf|-Inf|NaN)$')


def parse_metrics(text):
    """A strict reader of the Prometheus text format (0.0.4): HELP and TYPE
    before their samples, valid names, labels and values, no series twice.
    Returns {(name, (label pairs)): value}; raises ValueError."""
    series, types = {}, {}
    if not text.endswith("\n"):
        raise ValueError("no final line feed")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if kind not in ("counter", "gauge", "histogram", "summary", "untyped") or name in types:
                raise ValueError(f"bad TYPE line: {line}")
            types[name] = kind
            continue
        m = METRIC_LINE.match(line)
        if not m:
            raise ValueError(f"not a sample: {line!r}")
        name = m.group(1)
        if name not in types:
            raise ValueError(f"sample before its TYPE: {line}")
        labels = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        key = (name, labels)
        if key in series:
            raise ValueError(f"series twice: {line}")
        series[key] = float(m.group(4))
    return series


def metric(series, metric_name, /, **labels):
    """The value of the one series of metric_name whose labels include these
    (e.g. name="c1", class="not-found"); None when there is none."""
    found = [v for (n, have), v in series.items()
             if n == metric_name and set(labels.items()) <= set(have)]
    if len(found) > 1:
        raise ValueError(f"{metric_name}{labels} matches {len(found)} series")
    return found[0] if found else None


def run_version():
    """The version the built daemon says it is ("cce-certd 0.2.0")."""
    return subprocess.run([DAEMON, "--version"], stdout=subprocess.PIPE, text=True, check=True,
                          timeout=30).stdout.split()[1]


def run_status(config, *args):
    p = subprocess.run([DAEMON, "--status", "-c", str(config), *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def status_states(config, *args):
    code, out, err = run_status(config, "--json", *args)
    doc = json.loads(out)
    return code, {c["name"]: c for c in doc["clusters"]}, doc


def run_once(config, *args, timeout=60):
    p = subprocess.run([*WRAPPER, DAEMON, "--once", "-c", str(config), *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stderr


# ---- what every test logged or wrote, for the secrets sweep -----------------

SECRETS_SEEN = "secrets-to-find.json"
# Test inputs, not outputs: the secret files the configuration points at,
# the fake's accounts, the fake's own keys, programs copied for a test
# (the daemon names "EC PRIVATE KEY" blocks it reads).
NOT_OUTPUTS = {"secrets", "accounts.json", "fake", SECRETS_SEEN, "programs"}


def artifacts_dir():
    return pathlib.Path(os.environ.get("BUILD_ROOT", tempfile.gettempdir())) / "test-artifacts"


def collect_artifacts(d, where):
    """Copies what a test's daemons and hooks logged or wrote (stderr, journal
    records, notifications, state, kubeconfigs, metrics, hook output) into
    test-artifacts/WHERE, with the list of secrets to look for there: what
    the fake was given or handed out, and the test's secret files."""
    target = artifacts_dir() / where
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    # The secrets to look for: what the fake knew, and the test's secret files
    # (in the test's directory, or in subdirectories of a test that runs
    # several setups).
    seen = set()
    for known in d.rglob(SECRETS_SEEN):
        seen.update(json.loads(known.read_text()))
    for secrets in d.rglob("secrets"):
        if secrets.is_dir() and not secrets.is_symlink():
            seen.update(p.read_text().strip() for p in secrets.iterdir() if p.is_file())
    (target / SECRETS_SEEN).write_text(json.dumps(sorted(seen)))
    for entry in d.iterdir():
        if entry.name in NOT_OUTPUTS or entry.is_socket():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target / entry.name, symlinks=True,
                            ignore=lambda where, names: [n for n in names if n in NOT_OUTPUTS
                                                         or pathlib.Path(where, n).is_socket()])
        elif entry.is_file():
            shutil.copy2(entry, target / entry.name)


def run_tests(tests):
    """Runs the named tests of the list (all without arguments), each in a
    directory of its own, and prints TAP. Returns the exit status."""
    script = pathlib.Path(sys.argv[0]).stem
    selected = [t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]]
    for t in selected:
        print(f"# {t.__name__}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"{script}-") as tmp:
            try:
                t(pathlib.Path(tmp))
            except Exception:  # a test that breaks is a failure, not a crash of the suite
                import traceback
                check(f"{t.__name__} ran to its end", False, traceback.format_exc())
            try:
                collect_artifacts(pathlib.Path(tmp), f"{script}/{t.__name__}")
            except OSError as e:
                check(f"{t.__name__}: its outputs are collected for the secrets sweep", False, e)
    print(f"1..{len(results)}")
    return 0 if all(ok for _, ok, _ in results) else 1


