/*
 * fleet_fixture: what the integration tests that drive tools/ota-fleet share (test_fleet,
 * test_failover_fleet): running the simulator as a child process, and the product,
 * firmware and activated devices a batch needs, made through otad's API as a user would.
 * The setup helpers fail the running cmocka test on any error.
 */
#ifndef FLEET_FIXTURE_H
#define FLEET_FIXTURE_H

#include "ota_harness.h"

#include <stddef.h>
#include <sys/types.h>

/* Runs argv (NULL-terminated) to its end, output appended to log; its exit status or -1. */
int ff_run(char *const argv[], const char *log);
/* Waits at most timeout_ms for the child pid; its exit status, or -1 (then it is killed). */
int ff_wait(pid_t pid, int timeout_ms);
/* Creates a product named name; its productKey into pk. */
void ff_product(oth_env *e, const char *name, char *pk, size_t pk_len);
/* Uploads a firmware (file name "<name>.bin") for pk; its firmwareId into id. */
void ff_firmware(oth_env *e, const char *pk, const char *name, const char *version,
                 const void *data, size_t len, char *id, size_t id_len);
/* Waits until the firmware has n eligible devices (activation reaches otad asynchronously). */
void ff_wait_eligible(oth_env *e, const char *fwid, long long n, int timeout_ms);

#endif
