#!/bin/sh
# No real MIMIC data may ever be committed. A tracked file with a MIMIC table's header and more
# rows than a hand-written fixture needs fails this test (fixtures are small by design).
set -u
max_rows=300
fail=0
files=$(git ls-files 2>/dev/null) || { echo "SKIP repo_hygiene: not a git checkout"; exit 0; }
# Headers of MIMIC-IV / MIMIC-CXR tables (formats.md); compressed copies are checked too.
pattern='^(subject_id,hadm_id,stay_id|labevent_id,subject_id|dicom_id,subject_id,study_id|subject_id,gender,anchor_age|subject_id,hadm_id,admittime|subject_id,hadm_id,seq_num,icd_code|subject_id,study_id,Atelectasis)'
for f in $files; do
    [ -f "$f" ] || continue
    case "$f" in
        *.gz) head=$(gzip -dc "$f" 2>/dev/null | head -1); rows=$(gzip -dc "$f" 2>/dev/null | wc -l) ;;
        *) head=$(head -1 "$f" 2>/dev/null); rows=$(wc -l < "$f") ;;
    esac
    if printf '%s\n' "$head" | grep -Eq "$pattern" && [ "$rows" -gt $max_rows ]; then
        echo "FAIL repo_hygiene: $f looks like a real MIMIC table ($rows rows; fixtures stay under $max_rows)"
        fail=1
    fi
done
# JPEG files in the repository must be tiny synthetic fixtures, never radiographs.
for f in $files; do
    case "$f" in *.jpg|*.jpeg|*.dcm)
        sz=$(wc -c < "$f")
        if [ "$sz" -gt 200000 ]; then echo "FAIL repo_hygiene: $f is a large image ($sz bytes)"; fail=1; fi ;;
    esac
done
[ $fail -eq 0 ] && echo "PASS repo_hygiene: no tracked file looks like real MIMIC data"
exit $fail
