/* The monotonic clock, for deadlines and timeouts (wall-clock times are in
 * isolation/timefmt.h). */
#pragma once
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences between two calls mean anything. */
int64_t nvb_mono_ms(void);

/* Sleep ms milliseconds (ms <= 0: not at all), going on after a signal interrupts it. */
void nvb_sleep_ms(int ms);
