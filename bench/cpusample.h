/* cpusample.h: `ota-bench cpu-sample` (cpusample.c), the CPU sampler of bench/run.sh. */
#ifndef OTA_BENCH_CPUSAMPLE_H
#define OTA_BENCH_CPUSAMPLE_H

/* Runs the command on its arguments (after "cpu-sample"); returns when SIGTERM or SIGINT
 * arrives. The exit status: 0, 1 when the output cannot be written, 2 on a usage error. */
int cpusample_main(int argc, char **argv);

#endif
