/* SPDX-License-Identifier: MIT */
/* A timerfd that says when the wall clock was set (clock-change.h); it
 * never reads or sets the clock itself. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock-change.h"
#include "log.h"
#include "macro.h"

#define TIME_T_MAX ((time_t) ((UINTMAX_C(1) << ((sizeof(time_t) << 3) - 1)) - 1))

struct ClockChange {
        int fd;
        sd_event_source *io;
        ClockChanged changed;
        void *userdata;
};

static int arm(int fd) {
        struct itimerspec never = { .it_value = { .tv_sec = TIME_T_MAX } };
        return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &never, NULL) < 0 ? negative_errno() : 0;
}

static int on_timerfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ClockChange *c = userdata;
        uint64_t expirations;

        /* Set: the read fails with ECANCELED, and the timer is to be armed again. */
        if (read(fd, &expirations, sizeof(expirations)) >= 0 || errno != ECANCELED)
                return 0;
        if (arm(fd) < 0)
                log_warning_errno(negative_errno(), "Cannot watch the wall clock any more: %m");
        c->changed(c->userdata);
        return 0;
}

int clock_change_new(sd_event *event, ClockChanged changed, void *userdata, ClockChange **ret) {
        ClockChange *c = calloc(1, sizeof(ClockChange));
        int r = 0;

        if (!c)
                return -ENOMEM;
        *c = (ClockChange) { .fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC), .changed = changed,
                             .userdata = userdata };
        if (c->fd < 0 || (r = arm(c->fd)) < 0 || (r = sd_event_add_io(event, &c->io, c->fd, EPOLLIN, on_timerfd, c)) < 0) {
                r = c->fd < 0 ? negative_errno() : r;
                clock_change_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

ClockChange *clock_change_free(ClockChange *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->io);
        safe_close(c->fd);
        free(c);
        return NULL;
}
