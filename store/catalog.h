/* catalog.h — the fixed vocabulary of the task: 17 channels, 25 phenotypes, 14 CheXpert labels.
 *
 * The same facts ship as data in assets/ (phenotypes.csv, chexpert_labels.csv, channels.csv,
 * channel_categories.csv) for users and the man page; tests/test_catalog.c checks that these
 * tables and the asset files agree, and that they agree with ../shared/reference when present.
 */
#ifndef CATALOG_H
#define CATALOG_H

#define CATALOG_N_CHANNELS 17
#define CATALOG_N_PHENOTYPES 25
#define CATALOG_N_CHEXPERT 14
#define CATALOG_MAX_CATEGORIES 13
#define CATALOG_N_INPUTS 76 /* discretized width: one-hot categories + continuous + 17 masks */

typedef enum { PHENO_ACUTE = 0, PHENO_MIXED = 1, PHENO_CHRONIC = 2 } PhenoGroup;

typedef struct {
    const char *name;  /* benchmark name, e.g. "Septicemia (except in labor)" */
    const char *brief; /* short label for narrow screens, e.g. "Septicemia" */
    PhenoGroup group;
} CatalogPhenotype;

typedef struct {
    const char *text; /* category text as charted, e.g. "4 Spontaneously" */
    int score;        /* numeric meaning, e.g. 4 */
} CatalogCategory;

typedef struct {
    const char *name;   /* benchmark column name, e.g. "Heart Rate" */
    const char *brief;  /* e.g. "HR" */
    const char *unit;   /* e.g. "bpm"; "" when unitless */
    int categorical;    /* 1: one-hot over categories[] */
    const char *normal; /* normal value as text (imputation when never measured) */
    double valid_low, valid_high;     /* the benchmark's valid range (values outside are dropped) */
    double display_low, display_high; /* a typical clinical range, for charts */
    double normal_low, normal_high;   /* the healthy adult range, marked on charts */
    int n_categories;
    CatalogCategory categories[CATALOG_MAX_CATEGORIES]; /* in the discretizer's one-hot order */
} CatalogChannel;

extern const CatalogPhenotype catalog_phenotypes[CATALOG_N_PHENOTYPES];
extern const char *const catalog_chexpert[CATALOG_N_CHEXPERT];
extern const CatalogChannel catalog_channels[CATALOG_N_CHANNELS];

/* Index of a channel / phenotype / CheXpert label by exact name, or -1. */
int catalog_channel_index(const char *name);
int catalog_phenotype_index(const char *name);
int catalog_chexpert_index(const char *name);

/* Index of a category text within channel ch, or -1. Leading/trailing blanks are ignored. */
int catalog_category_index(int ch, const char *text);

/* "acute", "mixed" or "chronic". */
const char *catalog_group_name(PhenoGroup g);

/* Column of the discretized input where channel ch begins (its one-hot block or its value). */
int catalog_input_offset(int ch);
/* Width of channel ch in the discretized input: n_categories, or 1 when continuous. */
int catalog_input_width(int ch);

#endif
