#!/bin/sh
# e2e_cli.sh — `phenoscope info` and `phenoscope export` on stores built here: a missing store,
# a file that is not a store, and a small store written as an old (schema 0) layout with the
# sqlite3 shell, migrated by phenoscope, then filled with a few rows. Cases that need the demo
# cohort run only when this phenoscope has the `demo` verb.
# Prints PASS/FAIL/SKIP lines; exits non-zero on any failure.
set -u
bin=${PHENOSCOPE_BIN:-./phenoscope}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
lines() { wc -l < "$1" | tr -d ' '; }

# ---- refusals ---------------------------------------------------------------------------------
"$bin" info --store "$tmp/missing.db" > "$tmp/out" 2> "$tmp/err"; rc=$?
check cli_missing_store_exit1 [ $rc -eq 1 ]
check cli_missing_store_one_line [ "$(lines "$tmp/err")" -eq 1 ]
check cli_missing_store_message grep -q "^phenoscope: no store at $tmp/missing.db" "$tmp/err"
check cli_missing_store_not_created [ ! -e "$tmp/missing.db" ]

printf 'subject_id,gender\n10,F\n' > "$tmp/notadb"
cp "$tmp/notadb" "$tmp/notadb.orig"
"$bin" --store "$tmp/notadb" info > "$tmp/out" 2> "$tmp/err"; rc=$?
check cli_notadb_exit1 [ $rc -eq 1 ]
check cli_notadb_one_line [ "$(lines "$tmp/err")" -eq 1 ]
check cli_notadb_message grep -q "not a phenoscope store" "$tmp/err"
check cli_notadb_untouched cmp -s "$tmp/notadb" "$tmp/notadb.orig"

"$bin" info --bogus > /dev/null 2>&1; rc=$?
check cli_info_usage_exit2 [ $rc -eq 2 ]
"$bin" export > /dev/null 2>&1; rc=$?
check cli_export_usage_exit2 [ $rc -eq 2 ]
"$bin" export info --help > "$tmp/out" 2>&1
check cli_export_help grep -q "export radiograph DICOM_ID FILE.jpg" "$tmp/out"

# ---- a small store --------------------------------------------------------------------------
if ! command -v sqlite3 > /dev/null 2>&1; then
    echo "SKIP cli_small_store: the sqlite3 shell is not installed"
else
    s="$tmp/small.db"
    # Schema 0, the pre-release layout: phenoscope migrates it on open.
    sqlite3 "$s" "PRAGMA application_id = 1349014371;
        CREATE TABLE patients(subject_id INTEGER PRIMARY KEY, gender TEXT, anchor_age INTEGER,
                              anchor_year INTEGER);
        CREATE TABLE stays(stay_id INTEGER PRIMARY KEY, subject_id INTEGER, hadm_id INTEGER,
                           intime INTEGER, outtime INTEGER);
        CREATE TABLE phenotypes(stay_id INTEGER, phenotype INTEGER, label INTEGER);
        INSERT INTO patients VALUES (10, 'F', 70, 2150), (11, 'M', 50, 2150);
        INSERT INTO stays VALUES (300, 10, 2000, 4102444800, 4102617600),
                                 (301, 11, 2001, 4102444800, 4102617600);
        INSERT INTO phenotypes VALUES (300, 0, 1), (300, 24, 1), (301, 8, 1);"
    "$bin" --store "$s" info > "$tmp/out" 2> "$tmp/err"; rc=$?
    check cli_info_migrates_v0 [ $rc -eq 0 ]
    # The schema this build writes: a v0 store is migrated all the way to it.
    cur=$(sed -n 's/^#define STORE_SCHEMA_VERSION \([0-9]*\).*/\1/p' store/store.h)
    check cli_info_schema_current grep -q "^schema   $cur$" "$tmp/out"
    check cli_info_migrated_version [ "$(sqlite3 "$s" 'PRAGMA user_version')" = "$cur" ]
    esc=$(printf '\033')
    sqlite3 "$s" "UPDATE stays SET split = 0 WHERE stay_id = 300;
        UPDATE stays SET split = 2 WHERE stay_id = 301;
        INSERT INTO events(stay_id, hours, channel, value, text) VALUES
            (300, 0.5, 8, 86, NULL), (300, 0.5, 3, 4, '4 Spontaneously'),
            (300, -1.25, 15, 37.2, NULL), (300, 2, 8, 90.5, NULL);
        INSERT INTO radiographs(dicom_id, subject_id, study_id, study_time, view, c00, c01, c13)
            VALUES ('d-ap', 10, 50000001, 4102531200, 'AP', 1, -1, 0),
                   ('d-pa', 10, 50000001, 4102531200, 'PA', NULL, NULL, NULL),
                   ('e-ap', 11, 50000002, 4102531200, 'AP', 0, 0, 0);
        INSERT INTO radiograph_images VALUES ('d-ap', X'FFD8FFE000104A464946FFD9');
        INSERT INTO sources(name, detail, time) VALUES ('test', 'evil ${esc}[2J detail', 0);
        INSERT INTO funnel VALUES ('test', 0, 'all stays', 2), ('test', 1, 'adults', 2);"
    # Pairs and radiograph splits by the paper's rule, through phenoscope's own code path is
    # not reachable from the CLI yet (import/demo call it); write what the rule gives.
    sqlite3 "$s" "INSERT INTO pairs VALUES (300, 'd-ap'), (301, 'e-ap');
        UPDATE radiographs SET split = CASE subject_id WHEN 11 THEN 2 ELSE 0 END;"

    "$bin" --store "$s" info --json > "$tmp/info.json" 2> "$tmp/err"; rc=$?
    check cli_info_json_exit0 [ $rc -eq 0 ]
    j() { sqlite3 "$tmp/x.db" "SELECT json_extract(readfile('$tmp/info.json'), '$1')"; }
    check cli_info_json_valid [ "$(sqlite3 "$tmp/x.db" "SELECT json_valid(readfile('$tmp/info.json'))")" = 1 ]
    check cli_info_json_schema [ "$(j '$.schema')" = "$cur" ]
    check cli_info_json_train [ "$(j '$.splits.train.cxr')/$(j '$.splits.train.ehr')/$(j '$.splits.train.pairs')" = 2/1/1 ]
    check cli_info_json_test [ "$(j '$.splits.test.cxr')/$(j '$.splits.test.ehr')/$(j '$.splits.test.pairs')" = 1/1/1 ]
    check cli_info_json_val [ "$(j '$.splits.val.cxr')/$(j '$.splits.val.ehr')/$(j '$.splits.val.pairs')" = 0/0/0 ]
    check cli_info_json_funnel [ "$(j '$.funnel[1].rule')" = adults ]
    check cli_info_json_keeps_data [ "$(j '$.sources[0].detail')" = "evil ${esc}[2J detail" ]

    "$bin" --store "$s" info > "$tmp/out" 2>&1
    check cli_info_text_table grep -q "^  total *3 *2 *2$" "$tmp/out"
    check cli_info_text_funnel grep -q "adults" "$tmp/out"
    if sh -c "! grep -q '$esc' '$tmp/out' && grep -q 'evil ?\[2J detail' '$tmp/out'"; then pass cli_info_text_sanitised; else fail cli_info_text_sanitised; fi

    "$bin" --store "$s" export labels > "$tmp/labels.csv" 2> "$tmp/err"; rc=$?
    check cli_export_labels_exit0 [ $rc -eq 0 ]
    check cli_export_labels_rows [ "$(lines "$tmp/labels.csv")" -eq 3 ]
    check cli_export_labels_quoted grep -q '"Pleurisy; pneumothorax; pulmonary collapse"' "$tmp/labels.csv"
    check cli_export_labels_first_col [ "$(head -1 "$tmp/labels.csv" | cut -d, -f1-2)" = "stay_id,Acute and unspecified renal failure" ]
    check cli_export_labels_300 [ "$(sed -n 2p "$tmp/labels.csv")" = "300,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1" ]
    check cli_export_labels_301 [ "$(sed -n 3p "$tmp/labels.csv")" = "301,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" ]

    "$bin" --store "$s" export stay 300 > "$tmp/stay.csv" 2> "$tmp/err"; rc=$?
    check cli_export_stay_exit0 [ $rc -eq 0 ]
    want='Hours,Capillary refill rate,Diastolic blood pressure,Fraction inspired oxygen,Glascow coma scale eye opening,Glascow coma scale motor response,Glascow coma scale total,Glascow coma scale verbal response,Glucose,Heart Rate,Height,Mean blood pressure,Oxygen saturation,Respiratory rate,Systolic blood pressure,Temperature,Weight,pH'
    check cli_export_stay_header [ "$(head -1 "$tmp/stay.csv")" = "$want" ]
    check cli_export_stay_rows [ "$(lines "$tmp/stay.csv")" -eq 4 ]
    check cli_export_stay_negative_hour [ "$(sed -n 2p "$tmp/stay.csv")" = "-1.25,,,,,,,,,,,,,,,,37.2," ]
    check cli_export_stay_categorical [ "$(sed -n 3p "$tmp/stay.csv")" = "0.5,,,,4 Spontaneously,,,,,86.0,,,,,,,," ]
    check cli_export_stay_last [ "$(sed -n 4p "$tmp/stay.csv")" = "2.0,,,,,,,,,90.5,,,,,,,," ]
    "$bin" --store "$s" export stay 999 > /dev/null 2> "$tmp/err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "no stay 999" "$tmp/err"; then pass cli_export_stay_missing; else fail cli_export_stay_missing; fi
    "$bin" --store "$s" export stay 12x > /dev/null 2>&1; rc=$?
    check cli_export_stay_bad_id [ $rc -eq 2 ]

    "$bin" --store "$s" export radiographs > "$tmp/cxr.csv" 2> "$tmp/err"; rc=$?
    check cli_export_radiographs_exit0 [ $rc -eq 0 ]
    check cli_export_radiographs_header grep -q '^dicom_id,subject_id,study_id,study_time,view,split,Atelectasis,Cardiomegaly,.*,Support Devices$' "$tmp/cxr.csv"
    check cli_export_radiographs_values [ "$(grep '^d-ap,' "$tmp/cxr.csv")" = "d-ap,10,50000001,2100-01-02 00:00:00,AP,train,1.0,-1.0,,,,,,,,,,,,0.0" ]
    check cli_export_radiographs_missing [ "$(grep '^d-pa,' "$tmp/cxr.csv")" = "d-pa,10,50000001,2100-01-02 00:00:00,PA,train,,,,,,,,,,,,,," ]

    "$bin" --store "$s" export pairs > "$tmp/pairs.csv" 2> "$tmp/err"; rc=$?
    check cli_export_pairs [ "$(tr '\n' ' ' < "$tmp/pairs.csv")" = "stay_id,dicom_id 300,d-ap 301,e-ap " ]

    "$bin" --store "$s" export radiograph d-ap "$tmp/img.jpg" 2> "$tmp/err"; rc=$?
    check cli_export_image_exit0 [ $rc -eq 0 ]
    printf '\377\330\377\340\000\020JFIF\377\331' > "$tmp/want.jpg"
    check cli_export_image_bytes cmp -s "$tmp/img.jpg" "$tmp/want.jpg"
    echo keep > "$tmp/keep.jpg"
    "$bin" --store "$s" export radiograph d-ap "$tmp/keep.jpg" 2> "$tmp/err"; rc=$?
    if [ $rc -eq 1 ] && [ "$(cat "$tmp/keep.jpg")" = keep ]; then pass cli_export_image_no_clobber; else fail cli_export_image_no_clobber; fi
    check cli_export_image_no_clobber_msg grep -q -- "--force" "$tmp/err"
    "$bin" --store "$s" export radiograph d-ap "$tmp/keep.jpg" --force 2> "$tmp/err"; rc=$?
    if [ $rc -eq 0 ] && cmp -s "$tmp/keep.jpg" "$tmp/want.jpg"; then pass cli_export_image_force; else fail cli_export_image_force; fi
    "$bin" --store "$s" export radiograph d-pa "$tmp/none.jpg" 2> "$tmp/err"; rc=$?
    if [ $rc -eq 1 ] && [ ! -e "$tmp/none.jpg" ]; then pass cli_export_image_none; else fail cli_export_image_none; fi
    check cli_export_no_temp_left [ -z "$(ls "$tmp" | grep 'jpg\.')" ]
fi

# ---- with the demo cohort -------------------------------------------------------------------
if "$bin" --help 2>/dev/null | grep -q '^  demo '; then
    d="$tmp/demo.db"
    if "$bin" --store "$d" demo > /dev/null 2> "$tmp/err"; then
        "$bin" --store "$d" info --json > "$tmp/demo.json" 2> "$tmp/err"; rc=$?
        check cli_demo_info_exit0 [ $rc -eq 0 ]
        jd() { sqlite3 "$tmp/x.db" "SELECT json_extract(readfile('$tmp/demo.json'), '$1')"; }
        ehr=$(jd '$.total.ehr')
        check cli_demo_has_stays [ "${ehr:-0}" -gt 0 ]
        check cli_demo_has_pairs [ "$(jd '$.total.pairs')" -gt 0 ]
        "$bin" --store "$d" export labels > "$tmp/dl.csv"
        check cli_demo_labels_one_row_per_stay [ "$(($(lines "$tmp/dl.csv") - 1))" -eq "$ehr" ]
        "$bin" --store "$d" export pairs > "$tmp/dp.csv"
        check cli_demo_pairs_match_info [ "$(($(lines "$tmp/dp.csv") - 1))" -eq "$(jd '$.total.pairs')" ]
        stay=$(sed -n 2p "$tmp/dp.csv" | cut -d, -f1)
        "$bin" --store "$d" export stay "$stay" > "$tmp/ds.csv"; rc=$?
        if [ $rc -eq 0 ] && [ "$(lines "$tmp/ds.csv")" -gt 1 ]; then pass cli_demo_export_stay; else fail cli_demo_export_stay; fi
    else
        fail cli_demo_store "$(head -1 "$tmp/err")"
    fi
else
    echo "SKIP cli_demo: this phenoscope has no demo verb yet"
fi

[ $fails -eq 0 ]
