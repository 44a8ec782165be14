/* SPDX-License-Identifier: MIT */
#pragma once

/* Told when the wall clock is set: clock_settime() by hand or by NTP
 * stepping it, and a resume from suspend. A CLOCK_REALTIME timerfd armed
 * far in the future with TFD_TIMER_CANCEL_ON_SET, as systemd does; it costs
 * no wake-up while the clock is left alone. Renewal timers are absolute
 * wall-clock times and fire right by themselves; what is told is for the
 * waits that were measured from a moment (schedule.h,
 * sched_after_clock_step()). */

#include <systemd/sd-event.h>

typedef struct ClockChange ClockChange;
typedef void (*ClockChanged)(void *userdata);

int clock_change_new(sd_event *event, ClockChanged changed, void *userdata, ClockChange **ret);
ClockChange *clock_change_free(ClockChange *c);
