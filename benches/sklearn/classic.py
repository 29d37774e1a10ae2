"""scikit-learn's side of benches/classic_vs_sklearn: the same tables, the same splits (row indices given
by the Rust side), the equivalent estimators; prints held-out scores and median fit times as JSON.

Usage: python classic.py JOB.json  (written by the Rust benchmark)."""
import csv
import json
import statistics
import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR


def load(path, target):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    features = [c for c in rows[0] if c != target]
    x = np.array([[float(r[c]) for c in features] for r in rows])
    y = np.array([r[target] for r in rows])
    return x, y


def estimator(kind, seed, regression):
    if regression and kind == "random_forest":
        return RandomForestRegressor(n_estimators=100, max_features=1.0, random_state=seed, n_jobs=1)
    if regression and kind == "svm":
        return make_pipeline(StandardScaler(), SVR(C=1.0, epsilon=0.1, kernel="rbf", gamma="scale"))
    if kind == "random_forest":
        return RandomForestClassifier(n_estimators=100, max_features="sqrt", random_state=seed, n_jobs=1)
    if kind == "svm":
        return make_pipeline(StandardScaler(), SVC(C=1.0, kernel="rbf", gamma="scale"))
    if kind == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100))
    if kind == "ridge":
        return Ridge(alpha=1.0)
    raise ValueError(kind)


def main():
    job = json.load(open(sys.argv[1]))
    out = []
    for case in job["cases"]:
        x, y = load(case["path"], case["target"])
        # The diabetes table's target is a number: those cases regress and are scored by R².
        regression = case["target"] == "progression"
        if regression:
            y = y.astype(float)
        train, test = np.array(case["train"]), np.array(case["test"])
        times, score = [], None
        for _ in range(job["repeats"]):
            model = estimator(case["model"], case["seed"], regression)
            start = time.perf_counter()
            model.fit(x[train], y[train])
            times.append(time.perf_counter() - start)
            predicted = model.predict(x[test])
            score = r2_score(y[test], predicted) if regression else accuracy_score(y[test], predicted)
        out.append({"score": float(score), "fit_seconds": statistics.median(times)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
