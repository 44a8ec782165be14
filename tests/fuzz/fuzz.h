/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Each fuzz target defines this; fuzz-replay.c or libFuzzer calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
