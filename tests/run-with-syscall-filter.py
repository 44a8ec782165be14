#!/usr/bin/python3
"""run-with-syscall-filter.py LIST -- PROGRAM ARGS...: runs PROGRAM with a
seccomp filter that allows only the system calls named in the file LIST
(one a line) and makes every other fail with EPERM, as systemd does for
SystemCallFilter= with SystemCallErrorNumber=EPERM (and NoNewPrivileges=).
Names this architecture does not have are skipped.

run-with-syscall-filter.py --fail NAME:ERRNO[,NAME:ERRNO...] -- PROGRAM ARGS...:
allows every system call but those named, which fail with the errno named
(ENOSPC, EMFILE...): a kernel limit reached, on demand. NAME@I&MASK=VALUE
fails only the calls whose argument I, masked, is VALUE (numbers in C
notation): linkat@4&0x1000=0x1000 is linkat with AT_EMPTY_PATH.

--min-kernel X.Y before the rest: exits 77 (meson's "skipped") on an older
kernel, for a test of what only newer ones do.

Uses Debian's python3-seccomp (libseccomp's own binding), so /usr/bin/python3."""
import errno
import os
import sys

import seccomp

assert len(sys.argv) > 3 and "--" in sys.argv, __doc__
split = sys.argv.index("--")
options, program = sys.argv[1:split], sys.argv[split + 1:]
assert program, __doc__
if options[0] == "--min-kernel":
    release = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    if release < tuple(int(x) for x in options[1].split(".")):
        print(f"skipped: kernel {os.uname().release} is older than {options[1]}")
        sys.exit(77)
    options = options[2:]
if options[0] == "--fail":
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for rule in options[1].split(","):
        name, code = rule.split(":")
        name, _, condition = name.partition("@")
        if condition:
            index, _, masked = condition.partition("&")
            mask, _, value = masked.partition("=")
            f.add_rule(seccomp.ERRNO(getattr(errno, code)), name,
                       seccomp.Arg(int(index), seccomp.MASKED_EQ, int(mask, 0), int(value, 0)))
        else:
            f.add_rule(seccomp.ERRNO(getattr(errno, code)), name)
else:
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in open(options[0]).read().split():
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # not a system call of this architecture (chown32, ...)
f.load()
os.execvp(program[0], program)
