/* catalog.c — constant tables of the task's vocabulary (see catalog.h). Facts from the
 * MIMIC-IV phenotyping benchmark: channel order, one-hot category order, valid ranges. */
#include "store/catalog.h"

#include <ctype.h>
#include <string.h>

const CatalogPhenotype catalog_phenotypes[CATALOG_N_PHENOTYPES] = {
    {"Acute and unspecified renal failure", "Acute renal failure", PHENO_ACUTE},
    {"Acute cerebrovascular disease", "Stroke", PHENO_ACUTE},
    {"Acute myocardial infarction", "Acute MI", PHENO_ACUTE},
    {"Cardiac dysrhythmias", "Dysrhythmias", PHENO_MIXED},
    {"Chronic kidney disease", "Chronic kidney dis.", PHENO_CHRONIC},
    {"Chronic obstructive pulmonary disease and bronchiectasis", "COPD", PHENO_CHRONIC},
    {"Complications of surgical procedures or medical care", "Surgical complic.", PHENO_ACUTE},
    {"Conduction disorders", "Conduction dis.", PHENO_MIXED},
    {"Congestive heart failure; nonhypertensive", "Heart failure", PHENO_MIXED},
    {"Coronary atherosclerosis and other heart disease", "Coronary athero.", PHENO_CHRONIC},
    {"Diabetes mellitus with complications", "Diabetes w/ compl.", PHENO_MIXED},
    {"Diabetes mellitus without complication", "Diabetes w/o compl.", PHENO_CHRONIC},
    {"Disorders of lipid metabolism", "Lipid disorders", PHENO_CHRONIC},
    {"Essential hypertension", "Hypertension", PHENO_CHRONIC},
    {"Fluid and electrolyte disorders", "Fluid/electrolyte", PHENO_ACUTE},
    {"Gastrointestinal hemorrhage", "GI hemorrhage", PHENO_ACUTE},
    {"Hypertension with complications and secondary hypertension", "Hypertension compl.",
     PHENO_CHRONIC},
    {"Other liver diseases", "Liver disease", PHENO_MIXED},
    {"Other lower respiratory disease", "Lower resp. disease", PHENO_ACUTE},
    {"Other upper respiratory disease", "Upper resp. disease", PHENO_ACUTE},
    {"Pleurisy; pneumothorax; pulmonary collapse", "Pleurisy/pneumothx", PHENO_ACUTE},
    {"Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
     "Pneumonia", PHENO_ACUTE},
    {"Respiratory failure; insufficiency; arrest (adult)", "Respiratory failure", PHENO_ACUTE},
    {"Septicemia (except in labor)", "Septicemia", PHENO_ACUTE},
    {"Shock", "Shock", PHENO_ACUTE},
};

const char *const catalog_chexpert[CATALOG_N_CHEXPERT] = {
    "Atelectasis",     "Cardiomegaly",     "Consolidation", "Edema",
    "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion",   "Lung Opacity",
    "No Finding",      "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax",    "Support Devices",
};

#define CONT(nm, br, un, nv, vl, vh, dl, dh, nl, nh)                                             \
    {nm, br, un, 0, nv, vl, vh, dl, dh, nl, nh, 0, {{0, 0}}}

const CatalogChannel catalog_channels[CATALOG_N_CHANNELS] = {
    {"Capillary refill rate", "CRR", "", 1, "0.0", 0, 1, 0, 1, 0, 0, 2, {{"0.0", 0}, {"1.0", 1}}},
    CONT("Diastolic blood pressure", "DBP", "mmHg", "59.0", 0, 375, 20, 130, 60, 80),
    CONT("Fraction inspired oxygen", "FiO2", "", "0.21", 0.21, 1, 0.2, 1.0, 0.21, 0.21),
    {"Glascow coma scale eye opening", "GCS eye", "", 1, "4 Spontaneously", 1, 4, 1, 4, 4, 4, 8,
     {{"To Pain", 2}, {"3 To speech", 3}, {"1 No Response", 1}, {"4 Spontaneously", 4},
      {"None", 0}, {"To Speech", 3}, {"Spontaneously", 4}, {"2 To pain", 2}}},
    {"Glascow coma scale motor response", "GCS motor", "", 1, "6 Obeys Commands", 1, 6, 1, 6, 6,
     6, 12,
     {{"1 No Response", 1}, {"3 Abnorm flexion", 3}, {"Abnormal extension", 2},
      {"No response", 1}, {"4 Flex-withdraws", 4}, {"Localizes Pain", 5}, {"Flex-withdraws", 4},
      {"Obeys Commands", 6}, {"Abnormal Flexion", 3}, {"6 Obeys Commands", 6},
      {"5 Localizes Pain", 5}, {"2 Abnorm extensn", 2}}},
    {"Glascow coma scale total", "GCS total", "", 1, "15", 3, 15, 3, 15, 15, 15, 13,
     {{"11", 11}, {"10", 10}, {"13", 13}, {"12", 12}, {"15", 15}, {"14", 14}, {"3", 3}, {"5", 5},
      {"4", 4}, {"7", 7}, {"6", 6}, {"9", 9}, {"8", 8}}},
    {"Glascow coma scale verbal response", "GCS verbal", "", 1, "5 Oriented", 1, 5, 1, 5, 5, 5, 12,
     {{"1 No Response", 1}, {"No Response", 1}, {"Confused", 4}, {"Inappropriate Words", 3},
      {"Oriented", 5}, {"No Response-ETT", 1}, {"5 Oriented", 5}, {"Incomprehensible sounds", 2},
      {"1.0 ET/Trach", 1}, {"4 Confused", 4}, {"2 Incomp sounds", 2}, {"3 Inapprop words", 3}}},
    CONT("Glucose", "Glucose", "mg/dL", "128.0", 33, 2000, 40, 400, 70, 140),
    CONT("Heart Rate", "HR", "bpm", "86", 0, 350, 30, 180, 60, 100),
    CONT("Height", "Height", "cm", "170.0", 0, 240, 140, 200, 150, 195),
    CONT("Mean blood pressure", "MBP", "mmHg", "77.0", 14, 330, 30, 150, 70, 100),
    CONT("Oxygen saturation", "SpO2", "%", "98.0", 0, 100, 70, 100, 94, 100),
    CONT("Respiratory rate", "RR", "/min", "19", 0, 300, 5, 45, 12, 20),
    CONT("Systolic blood pressure", "SBP", "mmHg", "118.0", 0, 375, 60, 220, 90, 140),
    CONT("Temperature", "Temp", "degC", "36.6", 26, 45, 34, 41, 36.1, 37.8),
    CONT("Weight", "Weight", "kg", "81.0", 0, 250, 40, 160, 50, 100),
    CONT("pH", "pH", "", "7.4", 6.3, 8.4, 6.9, 7.7, 7.35, 7.45),
};

int catalog_channel_index(const char *name)
{
    for (int i = 0; i < CATALOG_N_CHANNELS; i++)
        if (strcmp(catalog_channels[i].name, name) == 0) return i;
    return -1;
}

int catalog_phenotype_index(const char *name)
{
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        if (strcmp(catalog_phenotypes[i].name, name) == 0) return i;
    return -1;
}

int catalog_chexpert_index(const char *name)
{
    for (int i = 0; i < CATALOG_N_CHEXPERT; i++)
        if (strcmp(catalog_chexpert[i], name) == 0) return i;
    return -1;
}

int catalog_category_index(int ch, const char *text)
{
    if (ch < 0 || ch >= CATALOG_N_CHANNELS || !text) return -1;
    while (isspace((unsigned char)*text)) text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1])) n--;
    const CatalogChannel *c = &catalog_channels[ch];
    for (int k = 0; k < c->n_categories; k++)
        if (strlen(c->categories[k].text) == n && strncmp(c->categories[k].text, text, n) == 0)
            return k;
    return -1;
}

const char *catalog_group_name(PhenoGroup g)
{
    switch (g) {
    case PHENO_ACUTE: return "acute";
    case PHENO_MIXED: return "mixed";
    case PHENO_CHRONIC: return "chronic";
    }
    return "?";
}

int catalog_input_width(int ch)
{
    return catalog_channels[ch].categorical ? catalog_channels[ch].n_categories : 1;
}

int catalog_input_offset(int ch)
{
    int off = 0;
    for (int i = 0; i < ch; i++) off += catalog_input_width(i);
    return off;
}
