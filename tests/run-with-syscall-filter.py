#!/usr/bin/python3
"""run-with-syscall-filter.py LIST -- PROGRAM ARGS...: runs PROGRAM with a
seccomp filter that allows only the system calls named in the file LIST
(one a line) and makes every other fail with EPERM, as systemd does for
SystemCallFilter= with SystemCallErrorNumber=EPERM (and NoNewPrivileges=).
Names this architecture does not have are skipped. Uses Debian's
python3-seccomp (libseccomp's own binding), so /usr/bin/python3."""
import errno
import os
import sys

import seccomp

names, program = sys.argv[1], sys.argv[3:]
assert sys.argv[2] == "--" and program, __doc__
f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
for name in open(names).read().split():
    try:
        f.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError):
        pass  # not a system call of this architecture (chown32, ...)
f.load()
os.execv(program[0], program)
