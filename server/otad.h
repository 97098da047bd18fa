/*
 * otad: the server's lifecycle. otad_init prepares the data folder (firmware/, tmp/,
 * keys/), the server key and the admin token, and opens the store (applying migrations);
 * otad_run serves until SIGINT or SIGTERM and stops everything in reverse order.
 */
#ifndef OTAD_OTAD_H
#define OTAD_OTAD_H

#include "core/config.h"

/* --init-only: prepare the data folder, keys, token and database; print the token.
 * Returns the process exit code. */
int otad_init_only(const cfg_t *cfg);
/* Runs the server in the foreground until SIGINT/SIGTERM. Returns the exit code. */
int otad_run(const cfg_t *cfg);

#endif
