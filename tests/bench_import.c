/* bench_import.c — import speed for `make bench` (see tests/bench.sh).
 *
 * Generates, in a temporary directory, a MIMIC-IV v2 tree whose icu/chartevents holds
 * $PS_BENCH_IMPORT_ROWS rows (default 10 million) in the real column layout: 20,000 subjects
 * with one ICU stay each, rows spread over the stays, 45% of them items of the 17 variables
 * (heart rate, blood pressures, respiratory rate, SpO2, temperature in F, GCS texts) and 55%
 * other items, as in the real table where most items are not among the 17. The same rows are
 * also written gzip-compressed (level 1) in a second tree. Then, each in its own child process
 * (so peak RSS is the import's own):
 *   import_chartevents_10M       end to end from the plain tree (parse, map, clean, insert)
 *   import_chartevents_10M_gz    the same from the gzip tree
 *   csv_parse_chartevents_10M    the CSV reader alone over the plain file
 *   import_cxr_images            $PS_BENCH_CXR_IMAGES (default 48) synthetic 2544 x 3056
 *                                radiograph JPEGs decoded, resized to 512 and stored, on all
 *                                cores (images_per_s)
 * Prints `PSBENCH <name> ms=<ms> peak_rss_mb=<n> rows_per_s=<n> kept=<n> cpu_s=<user+sys>`
 * (cpu_s tells the import's own work apart from waiting on a busy machine). Uses the resource
 * fixtures in tests/fixtures/mimic_resources (run from the repository root).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "store/csv.h"
#include "store/import_cxr.h"
#include "store/import_mimic.h"
#include "store/jpeg.h"
#include "store/rng.h"
#include "store/store.h"

#define N_SUBJECTS 20000
#define RES "tests/fixtures/mimic_resources"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_import: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(FILE *f, gzFile g, const char *s, size_t n)
{
    if (fwrite(s, 1, n, f) != n) die("write");
    if (g && gzwrite(g, s, (unsigned)n) != (int)n) die("gzwrite");
}

/* Writes the small tables of one tree. */
static void small_tables(const char *root)
{
    char p[600];
    snprintf(p, sizeof p, "%s/hosp", root);
    if (mkdir(p, 0700) != 0) die(p);
    snprintf(p, sizeof p, "%s/icu", root);
    if (mkdir(p, 0700) != 0) die(p);
    FILE *pa, *ad, *st, *dd, *dg, *lb;
    snprintf(p, sizeof p, "%s/hosp/patients.csv", root);
    if (!(pa = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/hosp/admissions.csv", root);
    if (!(ad = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/icu/icustays.csv", root);
    if (!(st = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/hosp/d_icd_diagnoses.csv", root);
    if (!(dd = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/hosp/diagnoses_icd.csv", root);
    if (!(dg = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/hosp/labevents.csv", root);
    if (!(lb = fopen(p, "w"))) die(p);
    fputs("subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod\n", pa);
    fputs("subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,admit_provider_id,"
          "admission_location,discharge_location,insurance,language,marital_status,race,"
          "edregtime,edouttime,hospital_expire_flag\n",
          ad);
    fputs("subject_id,hadm_id,stay_id,first_careunit,last_careunit,intime,outtime,los\n", st);
    fputs("icd_code,icd_version,long_title\n4019,9,Unspecified essential hypertension\n", dd);
    fputs("subject_id,hadm_id,seq_num,icd_code,icd_version\n", dg);
    fputs("labevent_id,subject_id,hadm_id,specimen_id,itemid,order_provider_id,charttime,"
          "storetime,value,valuenum,valueuom,ref_range_lower,ref_range_upper,flag,priority,"
          "comments\n",
          lb);
    for (int i = 0; i < N_SUBJECTS; i++) {
        fprintf(pa, "%d,%c,%d,2150,2014 - 2016,\n", 10000000 + i, i % 2 ? 'M' : 'F', 30 + i % 60);
        fprintf(ad,
                "%d,%d,2150-01-01 00:00:00,2150-01-12 00:00:00,,EW EMER.,,EMERGENCY ROOM,"
                "HOME,Other,ENGLISH,,WHITE,,,0\n",
                10000000 + i, 20000000 + i);
        fprintf(st,
                "%d,%d,%d,Medical Intensive Care Unit (MICU),Medical Intensive Care Unit "
                "(MICU),2150-01-01 00:00:00,2150-01-11 00:00:00,10\n",
                10000000 + i, 20000000 + i, 30000000 + i);
        if (i % 3 == 0) fprintf(dg, "%d,%d,1,4019,9\n", 10000000 + i, 20000000 + i);
    }
    fclose(pa);
    fclose(ad);
    fclose(st);
    fclose(dd);
    fclose(dg);
    fclose(lb);
}

static void generate(const char *plain, const char *gz, long rows)
{
    static const struct {
        int itemid;
        const char *uom;
        int lo, hi; /* value range; 0,0: a GCS text */
    } mapped[] = {{220045, "bpm", 50, 130},     {220179, "mmHg", 90, 160},
                  {220180, "mmHg", 40, 90},     {220052, "mmHg", 55, 100},
                  {220210, "insp/min", 10, 30}, {220277, "%", 88, 100},
                  {223761, "?F", 96, 103},      {220739, "", 0, 0}};
    static const char *const gcs[] = {"Spontaneously", "To Speech", "To Pain", "None"};
    small_tables(plain);
    small_tables(gz);
    char p[1300];
    snprintf(p, sizeof p, "%s/icu/chartevents.csv", plain);
    FILE *f = fopen(p, "w");
    if (!f) die(p);
    snprintf(p, sizeof p, "%s/icu/chartevents.csv.gz", gz);
    gzFile g = gzopen(p, "wb1");
    if (!g) die(p);
    gzbuffer(g, 1 << 20);
    const char *hdr = "subject_id,hadm_id,stay_id,caregiver_id,charttime,storetime,itemid,value,"
                      "valuenum,valueuom,warning\n";
    put(f, g, hdr, strlen(hdr));
    Rng rng;
    rng_seed(&rng, 42);
    char line[256];
    long per = rows / N_SUBJECTS + 1;
    for (long r = 0; r < rows; r++) {
        int subj = (int)(r / per);
        long k = r % per; /* minutes into the stay, one row per ~minute */
        int day = 1 + (int)(k / 1440), hh = (int)(k / 60 % 24), mm = (int)(k % 60);
        int n;
        if (rng_below(&rng, 100) < 45) {
            int m = (int)rng_below(&rng, sizeof mapped / sizeof *mapped);
            if (mapped[m].lo == 0) {
                const char *t = gcs[rng_below(&rng, 4)];
                n = snprintf(line, sizeof line,
                             "%d,%d,%d,%d,2150-01-%02d %02d:%02d:00,2150-01-%02d %02d:%02d:00,"
                             "%d,%s,,,0\n",
                             10000000 + subj, 20000000 + subj, 30000000 + subj, 90000 + subj % 97,
                             day, hh, mm, day, hh, mm, mapped[m].itemid, t);
            } else {
                int v =
                    mapped[m].lo + (int)rng_below(&rng, (uint64_t)(mapped[m].hi - mapped[m].lo));
                n = snprintf(line, sizeof line,
                             "%d,%d,%d,%d,2150-01-%02d %02d:%02d:00,2150-01-%02d %02d:%02d:00,"
                             "%d,%d,%d,%s,0\n",
                             10000000 + subj, 20000000 + subj, 30000000 + subj, 90000 + subj % 97,
                             day, hh, mm, day, hh, mm, mapped[m].itemid, v, v, mapped[m].uom);
            }
        } else {
            int item = 224000 + (int)rng_below(&rng, 3000);
            n = snprintf(line, sizeof line,
                         "%d,%d,%d,%d,2150-01-%02d %02d:%02d:00,2150-01-%02d %02d:%02d:00,%d,"
                         "%d.5,%d.5,units,0\n",
                         10000000 + subj, 20000000 + subj, 30000000 + subj, 90000 + subj % 97, day,
                         hh, mm, day, hh, mm, item, (int)rng_below(&rng, 500),
                         (int)rng_below(&rng, 500));
        }
        put(f, g, line, (size_t)n);
    }
    if (fclose(f) != 0) die("fclose");
    if (gzclose(g) != Z_OK) die("gzclose");
}

/* A MIMIC-CXR-JPG tree of n radiograph-sized JPEGs (smooth anatomy-like shading + noise, so
 * they compress like real ones). */
static void generate_cxr(const char *root, int n)
{
    char p[700];
    snprintf(p, sizeof p, "%s/cxr", root);
    if (mkdir(p, 0700) != 0) die(p);
    const int w = 2544, h = 3056;
    unsigned char *pix = malloc((size_t)w * h);
    if (!pix) die("malloc");
    Rng rng;
    rng_seed(&rng, 7);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = (x - w / 2.0) / w, dy = (y - h / 2.0) / h;
            int v = (int)(200 - 300 * (dx * dx + dy * dy)) + (int)rng_below(&rng, 12);
            pix[(size_t)y * w + x] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    unsigned char *jpg = NULL;
    size_t size = 0;
    PsErr err;
    if (jpeg_encode_gray(&jpg, &size, pix, w, h, 90, &err) != PS_OK) {
        fprintf(stderr, "bench_import: %s\n", err.msg);
        exit(1);
    }
    free(pix);
    FILE *meta, *chex, *split;
    snprintf(p, sizeof p, "%s/cxr/mimic-cxr-2.0.0-metadata.csv", root);
    if (!(meta = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/cxr/mimic-cxr-2.0.0-chexpert.csv", root);
    if (!(chex = fopen(p, "w"))) die(p);
    snprintf(p, sizeof p, "%s/cxr/mimic-cxr-2.0.0-split.csv", root);
    if (!(split = fopen(p, "w"))) die(p);
    fputs("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,"
          "Columns,StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,"
          "ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning\n",
          meta);
    fputs("subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged "
          "Cardiomediastinum,Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,"
          "Pleural Other,Pneumonia,Pneumothorax,Support Devices\n",
          chex);
    fputs("dicom_id,study_id,subject_id,split\n", split);
    for (int i = 0; i < n; i++) {
        int subj = 10000000 + i, study = 50000000 + i;
        fprintf(meta,
                "d%07d,%d,%d,CHEST (PORTABLE AP),AP,%d,%d,21500101,120000,CHEST (PORTABLE "
                "AP),antero-posterior,Erect\n",
                i, subj, study, h, w);
        fprintf(chex, "%d,%d,1.0,,,,,,,,,,,,,\n", subj, study);
        fprintf(split, "d%07d,%d,%d,train\n", i, study, subj);
        snprintf(p, sizeof p, "%s/cxr/files/p%.2d/p%d/s%d", root, subj / 1000000, subj, study);
        char cmd[800];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
        if (system(cmd) != 0) die(cmd);
        snprintf(p + strlen(p), sizeof p - strlen(p), "/d%07d.jpg", i);
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(jpg, 1, size, f) != size || fclose(f) != 0) die(p);
    }
    free(jpg);
    fclose(meta);
    fclose(chex);
    fclose(split);
}

static int workload(const char *name, const char *root, long rows)
{
    if (strcmp(name, "import_cxr_images") == 0) {
        char db[700], dir[700];
        snprintf(db, sizeof db, "%s/cxr.db", root);
        snprintf(dir, sizeof dir, "%s/cxr", root);
        Store *st;
        PsErr err;
        if (store_open(&st, db, STORE_OPEN_CREATE, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ImportCxrOptions o = {.dir = dir};
        ImportCxrStats s;
        double t0 = now_ms();
        if (import_cxr_run(st, &o, &s, &err)) {
            fprintf(stderr, "bench_import: %s\n", err.msg);
            return 1;
        }
        double ms = now_ms() - t0;
        store_close(st);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                     ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
        printf("PSBENCH import_cxr_images ms=%.0f peak_rss_mb=%ld images_per_s=%.1f images=%lld "
               "cpu_s=%.2f\n",
               ms, ru.ru_maxrss / 1024, (double)s.images_this_run / (ms / 1e3),
               (long long)s.images_this_run, cpu);
        return s.images_this_run == rows ? 0 : 1;
    }
    char db[700];
    snprintf(db, sizeof db, "%s/%s.db", root, name);
    double t0 = now_ms();
    long kept = 0;
    if (strncmp(name, "csv_parse", 9) == 0) {
        char p[700];
        snprintf(p, sizeof p, "%s/plain/icu/chartevents.csv", root);
        CsvReader *r;
        PsErr err;
        if (csv_open(&r, p, NULL, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        int got;
        while (csv_next(r, &got, &err) == PS_OK && got)
            kept += csv_nfields(r) > 0;
        csv_close(r);
        kept = 0;
    } else {
        int gz = strstr(name, "_gz") != NULL;
        char dir[700];
        snprintf(dir, sizeof dir, "%s/%s", root, gz ? "gz" : "plain");
        Store *st;
        PsErr err;
        if (store_open(&st, db, STORE_OPEN_CREATE, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ImportMimicOptions o = {.dir = dir,
                                .definitions = RES "/phenotype_definitions_icd9_icd10.yaml",
                                .itemids = RES "/itemid_to_variable_map.csv",
                                .ranges = RES "/variable_ranges.csv"};
        ImportMimicStats s;
        if (import_mimic_run(st, &o, &s, &err)) {
            fprintf(stderr, "bench_import: %s\n", err.msg);
            return 1;
        }
        kept = (long)s.events;
        store_close(st);
    }
    double ms = now_ms() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    printf("PSBENCH %s ms=%.0f peak_rss_mb=%ld rows_per_s=%.0f kept=%ld cpu_s=%.2f\n", name, ms,
           ru.ru_maxrss / 1024, (double)rows / (ms / 1e3), kept, cpu);
    return 0;
}

int main(int argc, char **argv)
{
    const char *e = getenv("PS_BENCH_IMPORT_ROWS");
    long rows = e && *e ? atol(e) : 10000000L;
    if (argc == 4 && strcmp(argv[1], "generate") == 0) { /* keep a tree for profiling */
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/plain", argv[2]);
        snprintf(b, sizeof b, "%s/gz", argv[2]);
        if (mkdir(argv[2], 0700) || mkdir(a, 0700) || mkdir(b, 0700)) die(argv[2]);
        generate(a, b, atol(argv[3]));
        return 0;
    }
    if (argc == 4) return workload(argv[1], argv[2], atol(argv[3]));
    char root[] = "/tmp/ps_bench_import.XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp");
    char plain[600], gz[600];
    snprintf(plain, sizeof plain, "%s/plain", root);
    snprintf(gz, sizeof gz, "%s/gz", root);
    if (mkdir(plain, 0700) || mkdir(gz, 0700)) die("mkdir");
    const char *ce = getenv("PS_BENCH_CXR_IMAGES");
    long images = ce && *ce ? atol(ce) : 48;
    double t0 = now_ms();
    generate(plain, gz, rows);
    generate_cxr(root, (int)images);
    fprintf(stderr, "bench_import: generated %ld rows and %ld images in %.1f s\n", rows, images,
            (now_ms() - t0) / 1e3);
    static const char *const names[] = {"csv_parse_chartevents_10M", "import_chartevents_10M",
                                        "import_chartevents_10M_gz", "import_cxr_images"};
    int fail = 0;
    char nrows[32], nimages[32];
    snprintf(nrows, sizeof nrows, "%ld", rows);
    snprintf(nimages, sizeof nimages, "%ld", images);
    for (int i = 0; i < 4; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], names[i], root, i == 3 ? nimages : nrows,
                  (char *)NULL);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            fail = 1;
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fail = 1;
    return fail;
}
