#!/usr/bin/python3
"""Certificates shorter than a day against the fake cloud (issue 25): a
4-hour certificate asked with expire_at and ending within a minute of
now + 4 h; whole days asked with duration; an endpoint that refuses
expire_at (one refused call, one in whole days, a warning, and the next
renewals asking in days directly, also after a restart, until the
settings change); the daemon rotating hour-long certificates on time.
Prints TAP."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

EXPIRE_AT_REFUSED = "b314e6a551a64b9bb1e2323fe3e2aa1b"


def bodies(fake, i):
    return [json.loads(r["body"]) for r in fake.requests(i)]


def issued(fake, i):
    return [c for c in fake.issued() if c["cluster_id"] == cluster_id(i)]


def test_expire_at_and_duration(d):
    """4h asked with expire_at, no duration; 2 days and 3d with duration."""
    fake = Fake(d, day_seconds=86400)
    config = write_config(d, fake, [(0, ", duration: 4h"), (1, ", duration: 2"), (2, ", duration: 3d")])
    before = time.time()
    status, err = run_once(config)
    check("--once writes the three clusters", status == 0, err)
    b = bodies(fake, 0)
    check("4h is asked with expire_at alone", len(b) == 1 and set(b[0]) == {"expire_at"}, b)
    want = time.gmtime(before + 4 * 3600)
    check("in the documented format", b and b[0]["expire_at"].endswith(" +0000 UTC")
          and b[0]["expire_at"][:13] in (time.strftime("%Y-%m-%d %H", want),
                                         time.strftime("%Y-%m-%d %H", time.gmtime(before + 4 * 3600 + 60))), b)
    cert = issued(fake, 0)[0]
    check("the certificate ends within a minute of now + 4 h", abs(cert["not_after"] - (before + 4 * 3600)) < 60,
          cert["not_after"] - before)
    check("whole days are asked with duration", bodies(fake, 1) == [{"duration": 2}] and bodies(fake, 2) == [{"duration": 3}],
          (bodies(fake, 1), bodies(fake, 2)))
    code, states, _ = status_states(config)
    check("--status: the 4-hour certificate ok, about 4 h left", code == 0 and states["c0"]["state"] == "ok"
          and 4 * 3600 - 120 < states["c0"]["seconds-left"] <= 4 * 3600, states.get("c0"))
    code, out, _ = run_status(config)
    line = next((l for l in out.splitlines() if l.startswith("c0 ")), "")
    check("--status shows the time left in hours and minutes", "3h59m" in line or "4h" in line.split()[3], line)
    fake.stop()


def test_fallback_to_days(d):
    """An endpoint that answers 400 to expire_at: asked again at once in
    whole days (rounded up), with a warning; later renewals ask in days
    directly, also after a restart; a changed setting tries expire_at
    again."""
    fake = Fake(d, day_seconds=86400)
    fake.control("/_fake/no-expire-at", {"cluster_id": cluster_id(0)})
    journal = Journal(d)
    config = write_config(d, fake, [(0, ", duration: 36h")])
    daemon = Daemon(d, config, journal=journal)
    written = wait_for(lambda: (d / "kube/c0").exists(), 10)
    check("the daemon writes c0", written, daemon.log())
    b = bodies(fake, 0)
    check("one refused call with expire_at, then one with duration rounded up to 2 days",
          len(b) == 2 and set(b[0]) == {"expire_at"} and b[1] == {"duration": 2}, b)
    cert = issued(fake, 0)
    check("the certificate it got lives 2 days", len(cert) == 1 and
          abs(cert[0]["not_after"] - cert[0]["not_before"] - 2 * 86400) < 5, cert)
    warn = journal.find(MESSAGE_ID=EXPIRE_AT_REFUSED)
    check("a warning with its message id, saying what it got instead",
          len(warn) == 1 and warn[0].get("PRIORITY") == "4" and "2 days instead of 1d12h" in warn[0]["MESSAGE"]
          and warn[0].get("HTTP_STATUS") == "400", warn)
    check("no other call", fake.count(0) == 2)
    daemon.stop()
    journal.close()
    state = json.loads((d / "state/clusters/c0.json").read_text())
    check("the state remembers it", state.get("expire-at-refused", 0) > 0, state)

    status, err = run_once(config, "--force")
    check("after a restart, the next renewal asks with duration directly", status == 0
          and bodies(fake, 0)[2:] == [{"duration": 2}], (bodies(fake, 0), err))
    status, err = run_once(config, "--force")
    check("and the one after", status == 0 and bodies(fake, 0)[3:] == [{"duration": 2}], bodies(fake, 0))

    # A week later, expire_at is tried again.
    state = json.loads((d / "state/clusters/c0.json").read_text())
    state["expire-at-refused"] = int(time.time()) - 7 * 86400 - 60
    (d / "state/clusters/c0.json").write_text(json.dumps(state))
    status, err = run_once(config, "--force")
    b = bodies(fake, 0)[4:]
    check("a week later expire_at is tried again (and falls back again)",
          status == 0 and len(b) == 2 and set(b[0]) == {"expire_at"} and b[1] == {"duration": 2}, b)

    config.write_text(config.read_text().replace("duration: 36h", "duration: 5h"))
    status, err = run_once(config, "--force")
    b = bodies(fake, 0)[6:]
    check("its settings changed: expire_at is tried again (and falls back again)",
          status == 0 and len(b) == 2 and set(b[0]) == {"expire_at"} and b[1] == {"duration": 1}, b)
    fake.control("/_fake/clear-faults", {})
    fake.fault(0, "status:400")
    config.write_text(config.read_text().replace("duration: 5h", "duration: 1"))
    status, err = run_once(config, "--force")
    check("a 400 to a duration request is the usual failure, with no second call",
          status == 1 and len(bodies(fake, 0)) == 9 and "invalid-request" in err, (status, err))
    fake.stop()


def test_hour_long_rotation(d):
    """Hour-long certificates on a fake whose day is 4 minutes (an hour is
    10 s): each renewed before it ends, about every 6.6 s, each asked with
    expire_at."""
    fake = Fake(d, day_seconds=240)
    notify = Notify(d)
    config = write_config(d, fake, [(0, ", duration: 1h, renew-at: 66%")])
    # The fake scales expire_at like a duration: an hour ahead is 10 s.
    daemon = Daemon(d, config, notify)
    time.sleep(24)
    certs = issued(fake, 0)
    check("rotated several times in 24 s", 3 <= len(certs) <= 5, len(certs))
    gaps = [b["received"] - a["not_after"] for a, b in zip(certs, certs[1:])]
    check("each new certificate came before the one before it ended", certs and all(g < 0 for g in gaps), gaps)
    spacing = [b["received"] - a["received"] for a, b in zip(certs, certs[1:])]
    # 66% of 10 s from a notBefore the fake dates a second back, in whole
    # seconds: 4 to 6 s after the one before.
    check("renewed at about two thirds of the lifetime, 3.5-7.5 s apart",
          spacing and all(3.5 <= s <= 7.5 for s in spacing), spacing)
    check("each asked with expire_at", all(set(b) == {"expire_at"} for b in bodies(fake, 0)), bodies(fake, 0))
    check("exit 0 on SIGTERM", daemon.stop() == 0, daemon.log())
    notify.close()
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_tests([test_expire_at_and_duration, test_fallback_to_days, test_hour_long_rotation]))
