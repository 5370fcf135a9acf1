# Grade the golden solution ("alice") and then copycat.py in one warm worker; print both scores.
# Inside a throw-away container only: sh copycat_scenario.sh GRADE_OPTIONS...
set -e
mkdir -p /tmp/cc/in
cp /src/tests/golden/solution.py /tmp/cc/in/a_alice.py
cp /src/tests/isolation/review/copycat.py /tmp/cc/in/b_copycat.py
cd /src && python -m grader grade /tmp/cc/in --out /tmp/cc/out --jobs 1 --regrade --no-report "$@" >/tmp/cc/log 2>&1 || { tail -5 /tmp/cc/log; }
python - <<'PY'
import json, glob
for p in sorted(glob.glob("/tmp/cc/out/results/*.json")):
    d = json.load(open(p)); e = d.get("extra_data", d)
    print("SCORE", p.rsplit("/", 1)[-1], e.get("score"), e.get("status"), e.get("provenance", {}).get("isolation"))
PY
