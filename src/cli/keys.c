/* keys.c -- see keys.h.
 *
 *   scry keys create --scope read,write --name "web"   prints the key (once)
 *   scry keys list                                     one line per key
 *   scry keys revoke ID
 *
 * Each takes the shared options (--data, ...) from core/config. Only the
 * metadata store is opened: no models, no index. */
#include "cli/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/util.h"
#include "http/auth.h"
#include "store/meta.h"

static const char *const g_help =
    "usage: scry keys create --scope SCOPES [--name NAME] [options]\n"
    "       scry keys list [options]\n"
    "       scry keys revoke ID [options]\n"
    "\n"
    "API keys for the HTTP API (sent as 'Authorization: Bearer KEY').\n"
    "  --scope S   comma-separated: read (search, images, jobs), write (upload,\n"
    "              edit), admin (delete, keys, metrics)\n"
    "  --name N    a label for people (\"web\", \"backup job\")\n"
    "create prints the key once; only a salted hash of it is stored.\n"
    "list prints: id, name, scopes, created, last used[, revoked].\n";

static void print_time(int64_t ms) {
    char when[32];
    if (!ms) {
        printf("-");
        return;
    }
    scry_iso8601(ms, when);
    printf("%s", when);
}

int cli_keys(int argc, char **argv) {
    scry_config cfg;
    config_defaults(&cfg);
    scry_err err = {0};
    if (config_from_env(&cfg, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 2;
    }
    const char *sub = NULL, *scope = NULL, *name = "", *id = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(g_help, stdout);
            printf("\noptions shared by every command (flag, environment variable):\n");
            config_print_help(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!sub) sub = a;
            else if (!id) id = a;
            else {
                fprintf(stderr, "scry: unexpected argument '%s'\n", a);
                return 2;
            }
            continue;
        }
        char flag[64];
        const char *value = NULL;
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a + 2);
            if (i + 1 < argc) value = argv[++i];
        }
        if (!value) {
            fprintf(stderr, "scry: --%s needs a value\n", flag);
            return 2;
        }
        if (!strcmp(flag, "scope") || !strcmp(flag, "scopes")) scope = value;
        else if (!strcmp(flag, "name")) name = value;
        else if (config_set(&cfg, flag, value, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s (see 'scry keys --help')\n", err.msg);
            return 2;
        }
    }
    if (!sub || (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))) {
        fputs(g_help, stderr);
        return 2;
    }
    unsigned mask = 0;
    if (!strcmp(sub, "create") && auth_scopes_parse(scope, &mask, &err) != SCRY_OK) {
        fprintf(stderr, "scry: --scope: %s\n", err.msg);
        return 2;
    }
    if (!strcmp(sub, "revoke") && !id) {
        fprintf(stderr, "scry: keys revoke needs a key id (see 'scry keys list')\n");
        return 2;
    }
    char path[1200];
    if (scry_mkdirs(cfg.data_dir, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    if (cfg.meta[0]) snprintf(path, sizeof path, "%s", cfg.meta);   /* --meta postgres://... */
    else snprintf(path, sizeof path, "%s/meta.db", cfg.data_dir);
    meta_db *db = NULL;
    if (meta_open(&db, path, &err) != SCRY_OK) {
        fprintf(stderr, "scry: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (!strcmp(sub, "create")) {
        char key[AUTH_KEY_LEN + 1];
        key_rec k;
        if (auth_key_create(db, name, mask, key, &k, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        } else {
            fprintf(stderr, "key %s (\"%s\", %s) created; it is shown once:\n", k.id, k.name,
                    k.scopes);
            printf("%s\n", key);
        }
    } else if (!strcmp(sub, "list")) {
        key_rec *keys = NULL;
        int n = 0;
        if (meta_key_list(db, &keys, &n, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        }
        for (int i = 0; i < n; i++) {
            printf("%s  \"%s\"  %s  ", keys[i].id, keys[i].name, keys[i].scopes);
            print_time(keys[i].created_at);
            printf("  ");
            print_time(keys[i].last_used_at);
            if (keys[i].revoked_at) {
                printf("  revoked ");
                print_time(keys[i].revoked_at);
            }
            printf("\n");
        }
        free(keys);
    } else {
        if (meta_key_revoke(db, id, &err) != SCRY_OK) {
            fprintf(stderr, "scry: %s\n", err.msg);
            rc = 1;
        } else {
            printf("revoked %s\n", id);
        }
    }
    meta_close(db);
    return rc;
}
