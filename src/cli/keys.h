/* keys.h -- `scry keys`: create, list and revoke API keys (http/auth.h).
 *
 * Works on the data folder directly (like every command), so an operator
 * can mint the first key before the server runs, or revoke one while it
 * runs: a running server notices a revocation within AUTH_CACHE_MS. */
#ifndef SCRY_CLI_KEYS_H
#define SCRY_CLI_KEYS_H

/* argv[0] is the subcommand (create, list, revoke); returns the exit code. */
int cli_keys(int argc, char **argv);

#endif
