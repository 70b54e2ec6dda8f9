/* timer: monotonic wall-clock time for benchmarks, progress and logs. */
#ifndef MTRL_CORE_TIMER_H
#define MTRL_CORE_TIMER_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double tm_now(void);

#endif
