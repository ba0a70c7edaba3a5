/* cmd_import.c — `phenoscope import SOURCE DIR [options]`: bring real data into the store.
 *
 * Sources: mimic-iv (raw MIMIC-IV tables, with the benchmark's three resource files) and
 * mimic-cxr (MIMIC-CXR-JPG metadata, labels, split and images), benchmark (the output of the
 * MIMIC-IV phenotyping benchmark pipeline).
 * Prints the first bad rows on stderr (sanitised by the importer), then a summary on stdout:
 * layout, the cohort funnel, events, labels, the bad-row count. A killed import is resumed by
 * running the same command again. Deliberately not here: any import logic (store/import_*.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/import_bench.h"
#include "store/import_cxr.h"
#include "store/import_mimic.h"
#include "store/store.h"
#include "ui/cmd.h"

#define SHOW_BAD_ROWS 10

typedef struct {
    int64_t shown, seen;
    int quiet, tty;
} Report;

static void on_bad_row(void *ctx, const char *msg)
{
    Report *r = ctx;
    r->seen++;
    if (r->shown < SHOW_BAD_ROWS) {
        if (r->tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "phenoscope: bad row: %s\n", msg);
        r->shown++;
    }
}

static int on_progress(void *ctx, const char *file, int64_t records, uint64_t bytes, uint64_t total)
{
    Report *r = ctx;
    if (r->tty && !r->quiet) {
        if (total)
            fprintf(stderr, "\r\033[K%s: %lld rows, %.0f%%", file, (long long)records,
                    100.0 * (double)bytes / (double)total);
        else
            fprintf(stderr, "\r\033[K%s: %lld rows", file, (long long)records);
        fflush(stderr);
    }
    return 0;
}

static int open_store(const CmdGlobal *g, Store **st)
{
    char path[4096];
    PsErr err = {{0}};
    const char *p = g->store_path;
    if (!p) {
        if (store_default_path(path, sizeof path, &err) != PS_OK) {
            fprintf(stderr, "phenoscope: %s\n", err.msg);
            return 1;
        }
        p = path;
    }
    if (store_open(st, p, STORE_OPEN_CREATE, &err) != PS_OK) {
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: phenoscope import mimic-iv DIR (--resources RDIR |\n"
            "                  --definitions YAML --itemids CSV --ranges CSV) [--batch N] [-q]\n"
            "\n"
            "DIR is a MIMIC-IV directory (v1.0 with core/, or v2.x with hosp/ and icu/), tables\n"
            "as .csv or .csv.gz. The benchmark's resource files are not bundled: pass the\n"
            "folder holding phenotype_definitions_icd9_icd10.yaml, itemid_to_variable_map.csv\n"
            "and variable_ranges.csv with --resources, or each file by name.\n"
            "\n"
            "usage: phenoscope import mimic-cxr DIR [--side N] [--threads N] [--metadata-only]\n"
            "                  [--batch N] [-q]\n"
            "\n"
            "DIR holds mimic-cxr-2.0.0-{metadata,chexpert,split}.csv[.gz] and, optionally, files/\n"
            "with the JPEGs: each is decoded, resized to N pixels on its longest side (default\n"
            "512) and stored; without files/ only the metadata and labels are imported.\n"
            "\n"
            "usage: phenoscope import benchmark DIR [--batch N] [-q]\n"
            "\n"
            "DIR is the benchmark pipeline's output: root/all_stays.csv and phenotyping/ with\n"
            "{train,test}/listfile.csv (or MedFuse's {train,val,test}_listfile.csv) and the\n"
            "timeseries files.\n"
            "\n"
            "An interrupted import continues when the same command is run again.\n");
}

static int import_mimic(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"definitions", required_argument, NULL, 'd'},
        {"itemids", required_argument, NULL, 'i'},
        {"ranges", required_argument, NULL, 'r'},
        {"resources", required_argument, NULL, 'R'},
        {"batch", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ImportMimicOptions o = {0};
    const char *resources = NULL;
    Report rep = {0};
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.definitions = optarg;
            break;
        case 'i':
            o.itemids = optarg;
            break;
        case 'r':
            o.ranges = optarg;
            break;
        case 'R':
            resources = optarg;
            break;
        case 'b': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v <= 0) {
                fprintf(stderr, "phenoscope: --batch needs a positive number of rows\n");
                return 2;
            }
            o.batch_rows = v;
            break;
        }
        case 'q':
            rep.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    o.dir = argv[optind];
    static char defs[4096], items[4096], ranges[4096];
    if (resources) {
        PsErr err = {{0}};
        if (import_mimic_find_resources(resources, defs, items, ranges, sizeof defs, &err)) {
            fprintf(stderr, "phenoscope: %s\n", err.msg);
            return 1;
        }
        if (!o.definitions) o.definitions = defs;
        if (!o.itemids) o.itemids = items;
        if (!o.ranges) o.ranges = ranges;
    }
    if (!o.definitions || !o.itemids || !o.ranges) {
        fprintf(stderr,
                "phenoscope: import mimic-iv needs the benchmark's resource files: "
                "%s%s%s(or --resources DIR holding all three)\n",
                o.definitions ? "" : "--definitions YAML ", o.itemids ? "" : "--itemids CSV ",
                o.ranges ? "" : "--ranges CSV ");
        return 2;
    }
    rep.tty = isatty(2);
    o.on_bad_row = on_bad_row;
    o.on_progress = on_progress;
    o.ctx = &rep;
    Store *st = NULL;
    if (open_store(g, &st)) return 1;
    ImportMimicStats s;
    PsErr err = {{0}};
    PsStatus rc = import_mimic_run(st, &o, &s, &err);
    if (rep.tty && !rep.quiet) fputs("\r\033[K", stderr);
    if (rc != PS_OK) {
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        if (rc != PS_ERR_CANCELLED && s.funnel[0])
            fprintf(stderr, "phenoscope: what was committed is kept; run the same command again "
                            "to continue\n");
        store_close(st);
        return 1;
    }
    if (rep.seen > rep.shown)
        fprintf(stderr, "phenoscope: %lld more bad rows not shown\n",
                (long long)(rep.seen - rep.shown));
    if (!rep.quiet) {
        static const char *const rules[6] = {"ICU stays",
                                             "same first and last care unit",
                                             "with admission and patient records",
                                             "only ICU stay of its admission",
                                             "age >= 18",
                                             "with an event during the stay"};
        if (s.already_done)
            printf("already imported; nothing to do\n");
        else
            printf("MIMIC-IV %s layout%s%s\n", s.layout == 1 ? "v1.0" : "v2.x",
                   s.has_chartevents ? "" : " (no icu/chartevents: lab variables only)",
                   s.resumed ? ", resumed" : "");
        printf("cohort funnel:\n");
        for (int k = 0; k < 6; k++)
            printf("  %d  %-36s %lld\n", k, rules[k], (long long)s.funnel[k]);
        printf("events: %lld\n", (long long)s.events);
        printf("stays with at least one phenotype: %lld\n", (long long)s.stays_with_labels);
        if (s.dropped_outlier)
            printf("values outside the outlier range (dropped): %lld\n",
                   (long long)s.dropped_outlier);
        printf("bad rows: %lld\n", (long long)s.bad_rows);
    }
    store_close(st);
    return 0;
}

static int positive(const char *opt, const char *arg, long long *v)
{
    char *end;
    *v = strtoll(arg, &end, 10);
    if (*end || *v <= 0) {
        fprintf(stderr, "phenoscope: %s needs a positive number\n", opt);
        return -1;
    }
    return 0;
}

static int import_cxr(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"side", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"metadata-only", no_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ImportCxrOptions o = {0};
    Report rep = {0};
    long long v;
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (positive("--side", optarg, &v) || v > 8192) {
                fprintf(stderr, "phenoscope: --side must be 1..8192\n");
                return 2;
            }
            o.max_side = (int)v;
            break;
        case 't':
            if (positive("--threads", optarg, &v)) return 2;
            o.threads = v > 64 ? 64 : (int)v;
            break;
        case 'b':
            if (positive("--batch", optarg, &v)) return 2;
            o.batch_rows = v;
            break;
        case 'm':
            o.metadata_only = 1;
            break;
        case 'q':
            rep.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    o.dir = argv[optind];
    rep.tty = isatty(2);
    o.on_bad_row = on_bad_row;
    o.on_progress = on_progress;
    o.ctx = &rep;
    Store *st = NULL;
    if (open_store(g, &st)) return 1;
    ImportCxrStats s;
    PsErr err = {{0}};
    PsStatus rc = import_cxr_run(st, &o, &s, &err);
    if (rep.tty && !rep.quiet) fputs("\r\033[K", stderr);
    store_close(st);
    if (rc != PS_OK) {
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    if (rep.seen > rep.shown)
        fprintf(stderr, "phenoscope: %lld more bad rows not shown\n",
                (long long)(rep.seen - rep.shown));
    if (!rep.quiet) {
        if (s.already_done)
            printf("already imported; nothing to do\n");
        else if (!s.images_dir)
            printf("MIMIC-CXR: no files/ directory%s: metadata and labels only\n",
                   o.metadata_only ? " used" : " found");
        printf("radiographs: %lld (with image: %lld)\n", (long long)s.radiographs,
               (long long)s.images);
        if (s.images_this_run)
            printf("images decoded and stored this run: %lld in %.1f s (%.1f images/s)\n",
                   (long long)s.images_this_run, s.decode_seconds,
                   s.decode_seconds > 0 ? (double)s.images_this_run / s.decode_seconds : 0.0);
        if (s.without_labels)
            printf("radiographs whose study has no CheXpert row: %lld\n",
                   (long long)s.without_labels);
        printf("pairs: %lld%s\n", (long long)s.pairs,
               s.recomputed ? "" : " (no ICU stays in the store: official split kept)");
        printf("bad rows: %lld\n", (long long)s.bad_rows);
    }
    return 0;
}

static int import_bench(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"batch", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ImportBenchOptions o = {0};
    Report rep = {0};
    long long v;
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (positive("--batch", optarg, &v)) return 2;
            o.batch_stays = v;
            break;
        case 'q':
            rep.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    o.dir = argv[optind];
    rep.tty = isatty(2);
    o.on_bad_row = on_bad_row;
    o.on_progress = on_progress;
    o.ctx = &rep;
    Store *st = NULL;
    if (open_store(g, &st)) return 1;
    ImportBenchStats s;
    PsErr err = {{0}};
    PsStatus rc = import_bench_run(st, &o, &s, &err);
    if (rep.tty && !rep.quiet) fputs("\r\033[K", stderr);
    store_close(st);
    if (rc != PS_OK) {
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    if (rep.seen > rep.shown)
        fprintf(stderr, "phenoscope: %lld more bad rows not shown\n",
                (long long)(rep.seen - rep.shown));
    if (!rep.quiet) {
        if (s.already_done) printf("already imported; nothing to do\n");
        printf("benchmark output (%s listfiles)\n", s.medfuse_listfiles ? "MedFuse" : "benchmark");
        printf("cohort funnel:\n  0  stays in root/all_stays.csv          %lld\n"
               "  1  stays in the phenotyping listfiles   %lld\n",
               (long long)s.funnel[0], (long long)s.funnel[1]);
        printf("stays per split: train %lld, validation %lld, test %lld\n",
               (long long)s.per_split[0], (long long)s.per_split[1], (long long)s.per_split[2]);
        printf("events: %lld\nbad rows: %lld\n", (long long)s.events, (long long)s.bad_rows);
    }
    return 0;
}

int cmd_import_run(const CmdGlobal *g, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "mimic-iv") == 0) return import_mimic(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "mimic-cxr") == 0) return import_cxr(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "benchmark") == 0) return import_bench(g, argc - 1, argv + 1);
    fprintf(stderr,
            "phenoscope: import: unknown source '%.40s' (mimic-iv, mimic-cxr or benchmark)\n",
            argv[1]);
    return 2;
}
