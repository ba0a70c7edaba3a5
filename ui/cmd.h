/* cmd.h — the CLI verbs. Each verb lives in ui/cmd_<verb>.c, parses its own options
 * (getopt_long), and returns a process exit status: 0 ok, 1 failure (one clear line on stderr
 * already printed), 2 usage error. Verbs never call exit(). */
#ifndef CMD_H
#define CMD_H

/* Options shared by every verb, parsed by main before the verb name. */
typedef struct {
    const char *store_path; /* --store PATH, or NULL for the default location */
    const char *graphics;   /* --graphics=sixel|symbols|none, or NULL to detect */
    int mask_ids;           /* --mask-ids: hide subject and stay identifiers on screen */
} CmdGlobal;

typedef struct {
    const char *name;
    int (*run)(const CmdGlobal *g, int argc, char **argv); /* argv[0] is the verb */
    const char *summary; /* one line for --help */
} CmdVerb;

/* The verbs, one per ui/cmd_<verb>.c. */
int cmd_tui_run(const CmdGlobal *g, int argc, char **argv);
int cmd_demo_run(const CmdGlobal *g, int argc, char **argv);
int cmd_info_run(const CmdGlobal *g, int argc, char **argv);
int cmd_export_run(const CmdGlobal *g, int argc, char **argv);
int cmd_probe_run(const CmdGlobal *g, int argc, char **argv);

/* The table of verbs, terminated by {NULL}; defined in ui/main.c. */
extern const CmdVerb cmd_verbs[];

/* Opens the store named by g (or the default) for the verb; prints one line and returns NULL on
 * failure. Defined in ui/cmd_common.c. */
struct Store;
int cmd_open_store(const CmdGlobal *g, struct Store **out, int mode);
/* cmd_open_store returns 0 with *out set, or 1 (an exit status) with *out NULL after printing
 * "phenoscope: <why>"; mode is a StoreMode. */

/* Prints "phenoscope: <message>" on stderr, one line, sanitised for the terminal. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The verbs (ui/cmd_<verb>.c). */
int cmd_import_run(const CmdGlobal *g, int argc, char **argv);

#endif
