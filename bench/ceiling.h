/* ceiling.h: `ota-bench mqtt-ceiling` (ceiling.c), the broker's ceiling for the rollout's
 * messages. */
#ifndef OTA_BENCH_CEILING_H
#define OTA_BENCH_CEILING_H

/* Runs the command on its arguments (after "mqtt-ceiling"). Returns the exit status:
 * 0, 1 when the measurement failed, 2 on a usage error. */
int ceiling_main(int argc, char **argv);

#endif
