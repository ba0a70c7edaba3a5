/* cmd_export.c — `phenoscope export labels|stay|radiographs|radiograph|pairs`: the store's
 * contents back out in the formats the benchmark and MIMIC-CXR use, for other tools.
 *
 * CSV follows RFC 4180 (a field with a comma, semicolon, quote or line break is quoted, quotes
 * doubled). Strings from data go out as they are when stdout is a pipe or a file; on a terminal
 * they are sanitised first, so a hostile value cannot drive the terminal. Not here: importing,
 * or any output a later import could not read back. */
#include "ui/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/sanitize.h"
#include "store/store.h"

int cmd_export_run(const CmdGlobal *g, int argc, char **argv);

static void help(FILE *f)
{
    fprintf(f,
            "usage: phenoscope export labels [--csv]\n"
            "       phenoscope export stay STAY_ID\n"
            "       phenoscope export radiographs [--csv]\n"
            "       phenoscope export radiograph DICOM_ID FILE.jpg [--force]\n"
            "       phenoscope export pairs [--csv]\n"
            "\n"
            "Writes CSV on standard output (RFC 4180 quoting):\n"
            "  labels       stay_id and the 25 phenotype labels (0/1), sorted by stay_id\n"
            "  stay         the stay's events as the benchmark's time series: Hours and the 17\n"
            "               variables, one row per distinct hour, empty = not measured\n"
            "  radiographs  dicom_id,subject_id,study_id,study_time (UTC),view,split and the 14\n"
            "               CheXpert labels (1.0 positive, 0.0 negative, -1.0 uncertain,\n"
            "               empty not mentioned)\n"
            "  pairs        stay_id,dicom_id of each stay and its paired radiograph\n"
            "  radiograph   writes the stored (resized) JPEG of one radiograph to FILE;\n"
            "               an existing FILE is kept unless --force\n"
            "\n"
            "  --csv        CSV output (the default and, for now, the only format)\n"
            "  --force      radiograph: replace FILE if it exists\n"
            "  --store P    the store (as the global option)\n"
            "  -h, --help   this help\n");
}

/* ---- CSV ------------------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    int tty;   /* stdout is a terminal: sanitise data strings */
    int first; /* no field yet on this line */
} Csv;

static void csv_field(Csv *c, const char *s)
{
    char safe[4096];
    if (!s) s = "";
    if (c->tty) {
        sanitize_for_terminal(safe, sizeof safe, s);
        s = safe;
    }
    if (!c->first) putc(',', c->f);
    c->first = 0;
    if (strpbrk(s, ",;\"\r\n") == NULL) {
        fputs(s, c->f);
        return;
    }
    putc('"', c->f);
    for (; *s; s++) {
        if (*s == '"') putc('"', c->f);
        putc(*s, c->f);
    }
    putc('"', c->f);
}

static void csv_int(Csv *c, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    csv_field(c, buf);
}

static void csv_end(Csv *c)
{
    putc('\n', c->f);
    c->first = 1;
}

/* The shortest decimal that reads back as the same float, with a ".0" on whole numbers as the
 * benchmark writes them ("86.0", "37.2"). */
static void format_float(char *buf, size_t n, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static int finish_output(const char *what)
{
    if (fflush(stdout) == EOF || ferror(stdout)) {
        cmd_error("export %s: cannot write the output: %s", what, strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- labels ------------------------------------------------------------------------------- */

static int labels_row(void *ctx, int64_t stay_id, const uint8_t labels[CATALOG_N_PHENOTYPES])
{
    Csv *c = ctx;
    csv_int(c, stay_id);
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) csv_field(c, labels[k] ? "1" : "0");
    csv_end(c);
    return ferror(c->f) != 0; /* a closed pipe: stop early */
}

static int export_labels(Store *st, Csv *c)
{
    csv_field(c, "stay_id");
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) csv_field(c, catalog_phenotypes[k].name);
    csv_end(c);
    if (store_each_labels(st, labels_row, c) && !ferror(stdout)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    return finish_output("labels");
}

/* ---- stay --------------------------------------------------------------------------------- */

typedef struct {
    Csv *c;
    int have_row;
    float hours;
    char cells[CATALOG_N_CHANNELS][96];
} StayRows;

static void flush_row(StayRows *r)
{
    if (!r->have_row) return;
    char h[48];
    format_float(h, sizeof h, r->hours);
    csv_field(r->c, h);
    for (int k = 0; k < CATALOG_N_CHANNELS; k++) csv_field(r->c, r->cells[k]);
    csv_end(r->c);
    memset(r->cells, 0, sizeof r->cells);
    r->have_row = 0;
}

static int stay_event(void *ctx, const StoreEvent *e)
{
    StayRows *r = ctx;
    if (r->have_row && e->hours != r->hours) flush_row(r);
    r->have_row = 1;
    r->hours = e->hours;
    char *cell = r->cells[e->channel];
    /* Categorical cells carry the charted text; numbers otherwise. A second value at the same
     * hour replaces the first, as the benchmark keeps the last. */
    if (catalog_channels[e->channel].categorical && e->text)
        snprintf(cell, sizeof r->cells[0], "%s", e->text);
    else if (!isnan(e->value))
        format_float(cell, sizeof r->cells[0], e->value);
    else if (e->text)
        snprintf(cell, sizeof r->cells[0], "%s", e->text);
    return ferror(r->c->f) != 0;
}

static int export_stay(Store *st, Csv *c, const char *id_text)
{
    char *end;
    errno = 0;
    long long id = strtoll(id_text, &end, 10);
    if (errno || end == id_text || *end) {
        cmd_error("export stay: '%s' is not a stay id (a whole number)", id_text);
        return 2;
    }
    StoreStay s;
    if (store_get_stay(st, id, &s)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    csv_field(c, "Hours");
    for (int k = 0; k < CATALOG_N_CHANNELS; k++) csv_field(c, catalog_channels[k].name);
    csv_end(c);
    StayRows *r = calloc(1, sizeof *r);
    if (!r) {
        cmd_error("export stay: out of memory");
        return 1;
    }
    r->c = c;
    PsStatus rc = store_each_event(st, id, stay_event, r);
    if (!rc) flush_row(r);
    free(r);
    if (rc && !ferror(stdout)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    return finish_output("stay");
}

/* ---- radiographs -------------------------------------------------------------------------- */

static const char *split_name(int split)
{
    switch (split) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_VAL: return "val";
    case SPLIT_TEST: return "test";
    default: return "";
    }
}

static int radiograph_row(void *ctx, const StoreRadiograph *r)
{
    Csv *c = ctx;
    char when[64];
    time_t t = (time_t)r->study_time;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(when, sizeof when, "%lld", (long long)r->study_time);
    csv_field(c, r->dicom_id);
    csv_int(c, r->subject_id);
    csv_int(c, r->study_id);
    csv_field(c, when);
    csv_field(c, r->view);
    csv_field(c, split_name(r->split));
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) {
        int v = r->chexpert[k];
        csv_field(c, v == CHEX_POSITIVE   ? "1.0"
                     : v == CHEX_NEGATIVE ? "0.0"
                     : v == CHEX_UNCERTAIN ? "-1.0"
                                           : "");
    }
    csv_end(c);
    return ferror(c->f) != 0;
}

static int export_radiographs(Store *st, Csv *c)
{
    static const char *const head[] = {"dicom_id", "subject_id", "study_id",
                                       "study_time", "view", "split"};
    for (size_t k = 0; k < sizeof head / sizeof head[0]; k++) csv_field(c, head[k]);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) csv_field(c, catalog_chexpert[k]);
    csv_end(c);
    if (store_each_radiograph(st, -1, 0, radiograph_row, c) && !ferror(stdout)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    return finish_output("radiographs");
}

/* ---- pairs -------------------------------------------------------------------------------- */

static int pair_row(void *ctx, int64_t stay_id, const char *dicom_id)
{
    Csv *c = ctx;
    csv_int(c, stay_id);
    csv_field(c, dicom_id);
    csv_end(c);
    return ferror(c->f) != 0;
}

static int export_pairs(Store *st, Csv *c)
{
    csv_field(c, "stay_id");
    csv_field(c, "dicom_id");
    csv_end(c);
    if (store_each_pair(st, pair_row, c) && !ferror(stdout)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    return finish_output("pairs");
}

/* ---- one radiograph's image --------------------------------------------------------------- */

/* Writes the image to a temporary file beside FILE, then links it into place: without --force
 * an existing FILE is never replaced (link fails atomically), with --force the rename is
 * atomic; a failure leaves no partial FILE. */
static int export_image(Store *st, const char *dicom_id, const char *file, int force)
{
    StoreRadiograph r;
    unsigned char *jpeg = NULL;
    if (store_get_radiograph(st, dicom_id, &r, &jpeg)) {
        cmd_error("%s", store_errmsg(st));
        return 1;
    }
    if (!jpeg) {
        cmd_error("export radiograph: %s has no stored image (imported without images?)",
                  dicom_id);
        return 1;
    }
    if (!force && access(file, F_OK) == 0) {
        free(jpeg);
        cmd_error("export radiograph: %s exists; not replacing it (use --force)", file);
        return 1;
    }
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", file) >= (int)sizeof tmp) {
        free(jpeg);
        cmd_error("export radiograph: file name too long");
        return 1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(jpeg);
        cmd_error("export radiograph: cannot create %s: %s", file, strerror(e));
        return 1;
    }
    const char *fail = NULL;
    int e = 0;
    size_t off = 0;
    while (off < r.jpeg_size) {
        ssize_t w = write(fd, jpeg + off, r.jpeg_size - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail = "write", e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (!fail && fchmod(fd, 0644) != 0) fail = "chmod", e = errno;
    if (!fail && fsync(fd) != 0) fail = "sync", e = errno;
    if (close(fd) != 0 && !fail) fail = "close", e = errno;
    free(jpeg);
    if (!fail) {
        if (force) {
            if (rename(tmp, file) != 0) fail = "rename", e = errno;
        } else if (link(tmp, file) != 0) {
            fail = "link", e = errno;
        }
    }
    if (fail || !force) unlink(tmp);
    if (fail) {
        if (e == EEXIST)
            cmd_error("export radiograph: %s exists; not replacing it (use --force)", file);
        else
            cmd_error("export radiograph: cannot write %s (%s: %s)", file, fail, strerror(e));
        return 1;
    }
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

int cmd_export_run(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"csv", no_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"store", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    /* --store is also accepted after the verb, as people type it. */
    CmdGlobal local = *g;
    g = &local;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': break; /* CSV is the format */
        case 'f': force = 1; break;
        case 's': local.store_path = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs < 1) {
        help(stderr);
        return 2;
    }
    const char *what = args[0];
    int want = strcmp(what, "stay") == 0 ? 2 : strcmp(what, "radiograph") == 0 ? 3 : 1;
    if (strcmp(what, "labels") && strcmp(what, "stay") && strcmp(what, "radiographs") &&
        strcmp(what, "radiograph") && strcmp(what, "pairs")) {
        cmd_error("export: unknown kind '%s' (labels, stay, radiographs, radiograph, pairs)",
                  what);
        return 2;
    }
    if (nargs != want) {
        cmd_error("export %s: expected %d argument%s (try export --help)", what, want - 1,
                  want == 2 ? "" : "s");
        return 2;
    }
    Store *st;
    if (cmd_open_store(g, &st, STORE_OPEN_READWRITE)) return 1;
    Csv csv = {stdout, isatty(STDOUT_FILENO), 1};
    int rc;
    if (strcmp(what, "labels") == 0) rc = export_labels(st, &csv);
    else if (strcmp(what, "stay") == 0) rc = export_stay(st, &csv, args[1]);
    else if (strcmp(what, "radiographs") == 0) rc = export_radiographs(st, &csv);
    else if (strcmp(what, "pairs") == 0) rc = export_pairs(st, &csv);
    else rc = export_image(st, args[1], args[2], force);
    store_close(st);
    return rc;
}
