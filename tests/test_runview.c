/* test_runview.c — a run read back for the Training screen: the trainer's epoch JSON parsed
 * (selection set, groups, per-phenotype AUROC, nulls), steps thinned for charts, best epoch; and
 * the Predictions screen's ordering and the Training screen's smoothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/runs.h"
#include "store/runview.h"
#include "ui/screen_predict.h"
#include "ui/screen_train.h"

static const char *const epoch_json =
    "{\"epoch\":2,\"phase\":\"train\",\"iteration\":8,\"lr\":0.001,\"train_loss_cxr\":0.5,"
    "\"train_loss_ehr\":0.68,\"train_loss_joint\":null,"
    "\"val_all\":{\"n\":30,\"auroc\":0.61,\"auprc\":0.3,\"acute\":0.6,\"mixed\":0.7,\"chronic\":0.5,"
    "\"per_phenotype\":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,null,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,"
    "0.9,0.1,0.2,0.3,0.4,0.5,0.6]},"
    "\"val_paired\":{\"n\":6,\"auroc\":0.75,\"auprc\":0.4,\"acute\":0.8,\"mixed\":0.9,\"chronic\":null,"
    "\"per_phenotype\":[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,"
    "0.5,0.5,0.5,0.5,0.5,0.5,0.99]},"
    "\"selection\":\"val_paired\",\"best\":true,\"seconds\":0.2}";

static void parses_the_selected_set(void **state)
{
    (void)state;
    RunViewEpoch e;
    assert_int_equal(runview_parse_epoch(epoch_json, &e), PS_OK);
    assert_int_equal(e.epoch, 2);
    assert_string_equal(e.selection, "val_paired");
    assert_true(fabs(e.auroc - 0.75) < 1e-12); /* the paired set, not val_all's 0.61 */
    assert_true(fabs(e.group[0] - 0.8) < 1e-12);
    assert_true(isnan(e.group[2]));
    assert_true(fabs(e.per[24] - 0.99) < 1e-12);
    assert_true(fabs(e.loss[1] - 0.68) < 1e-12);
    assert_true(isnan(e.loss[2]));
    assert_true(e.best);
    /* keys inside nested objects are not mistaken for top-level ones */
    assert_true(fabs(runview_json_num(epoch_json, "val_all.auroc") - 0.61) < 1e-12);
    assert_true(isnan(runview_json_num(epoch_json, "auroc")));
    assert_true(isnan(runview_json_num(epoch_json, "val_all.per_phenotype.x")));
    /* the all-stays set when there is no selection key */
    RunViewEpoch f;
    assert_int_equal(runview_parse_epoch("{\"epoch\":1,\"val_all\":{\"auroc\":0.6,"
                                         "\"per_phenotype\":[0.7]}}", &f), PS_OK);
    assert_true(fabs(f.auroc - 0.6) < 1e-12);
    assert_true(fabs(f.per[0] - 0.7) < 1e-12);
    assert_true(isnan(f.per[1]));
    assert_false(f.best);
    assert_int_equal(runview_parse_epoch("[1,2]", &f), PS_ERR_PARSE);
    assert_int_equal(runview_parse_epoch("{\"phase\":\"x\"}", &f), PS_ERR_PARSE);
    /* a string value holding braces and a quoted key does not confuse the lookup */
    assert_true(fabs(runview_json_num("{\"m\":\"}{\\\"epoch\\\":9\",\"epoch\":3}", "epoch") - 3) < 1e-12);
}

static void loads_a_run_from_the_store(void **state)
{
    (void)state;
    char path[] = "/tmp/ps_test_runview_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, path, STORE_OPEN_CREATE, &err), PS_OK);
    int64_t id = 0;
    assert_int_equal(runs_create(st, "unified", "{\"patience\":4,\"lr\":0.001}", 7, "test",
                                 "running", &id), PS_OK);
    RunStep steps[100];
    for (int i = 0; i < 100; i++)
        steps[i] = (RunStep){i + 1, 1.0 / (i + 1), 0.5, i % 2 ? NAN : 0.3};
    assert_int_equal(runs_put_steps(st, id, steps, 100), PS_OK);
    assert_int_equal(runs_put_epoch(st, id, 1, "{\"epoch\":1,\"val_all\":{\"auroc\":0.6},\"best\":true}"), PS_OK);
    assert_int_equal(runs_put_epoch(st, id, 2, epoch_json), PS_OK);
    assert_int_equal(runs_put_epoch(st, id, 3, "{\"epoch\":3,\"selection\":\"val_paired\","
                                               "\"val_paired\":{\"auroc\":0.7},\"best\":false}"), PS_OK);
    RunView v;
    assert_int_equal(runview_load(st, id, 10, &v, &err), PS_OK);
    assert_string_equal(v.info.method, "unified");
    assert_int_equal(v.n_epochs, 3);
    assert_int_equal(v.best_epoch, 2);
    assert_true(fabs(v.best_auroc - 0.75) < 1e-12);
    assert_int_equal((int)v.n_steps, 10); /* thinned, first and last kept */
    assert_int_equal((int)v.steps[0].step, 1);
    assert_int_equal((int)v.steps[9].step, 100);
    assert_false(v.has_progress);
    assert_true(fabs(runview_json_num(v.config, "patience") - 4) < 1e-12);
    runview_free(&v);
    assert_int_equal(runview_load(st, id + 1, 0, &v, &err), PS_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "no run"));
    store_close(st);
    unlink(path);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void predictions_sorted_by_the_used_column(void **state)
{
    (void)state;
    float e[CATALOG_N_PHENOTYPES], u[CATALOG_N_PHENOTYPES];
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
        e[k] = (float)k / 25;       /* EHR rises with k */
        u[k] = (float)(24 - k) / 25; /* Unified falls with k */
    }
    int o[CATALOG_N_PHENOTYPES];
    screen_predict_order(o, e, u, PREDICT_SORT_USED);
    assert_int_equal(o[0], 0); /* the X-ray is there: Unified is used */
    screen_predict_order(o, e, NULL, PREDICT_SORT_USED);
    assert_int_equal(o[0], 24); /* withheld: the EHR head */
    e[3] = e[4] = 1.0f;         /* ties keep catalog order */
    screen_predict_order(o, e, NULL, PREDICT_SORT_EHR);
    assert_int_equal(o[0], 3);
    assert_int_equal(o[1], 4);
    screen_predict_order(o, e, u, PREDICT_SORT_CATALOG);
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) assert_int_equal(o[k], k);
    screen_predict_order(o, e, u, PREDICT_SORT_DIFF);
    float d0 = fabsf(u[o[0]] - e[o[0]]);
    for (int k = 1; k < CATALOG_N_PHENOTYPES; k++) assert_true(fabsf(u[o[k]] - e[o[k]]) <= d0);
}

static void smoothing_and_durations(void **state)
{
    (void)state;
    float y[5] = {1, NAN, 3, 3, 3}, s[5];
    screen_train_smooth(s, y, 5, 0.5);
    assert_true(s[0] == 1 && s[1] == 1 && s[2] == 2 && s[3] == 2.5f);
    float only_nan[2] = {NAN, NAN};
    screen_train_smooth(s, only_nan, 2, 0.5);
    assert_true(isnan(s[0]) && isnan(s[1]));
    char b[32];
    screen_train_duration(b, sizeof b, 65);
    assert_string_equal(b, "1:05");
    screen_train_duration(b, sizeof b, 3725);
    assert_string_equal(b, "1:02:05");
    screen_train_duration(b, sizeof b, NAN);
    assert_string_equal(b, "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_selected_set),
        cmocka_unit_test(loads_a_run_from_the_store),
        cmocka_unit_test(predictions_sorted_by_the_used_column),
        cmocka_unit_test(smoothing_and_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
