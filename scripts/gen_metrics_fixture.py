#!/usr/bin/env python3
"""gen_metrics_fixture.py - reference values for hub.metrics from scikit-learn, scipy and seqeval.

Needs scikit-learn and scipy (Debian: apt-get install python3-sklearn python3-scipy) and
seqeval 1.2.2 (PyPI), e.g. in a virtual environment that sees the Debian packages:

    python3 -m venv --system-site-packages $HUB_DATA/venv-seqeval
    $HUB_DATA/venv-seqeval/bin/pip install --no-deps seqeval==1.2.2
    $HUB_DATA/venv-seqeval/bin/python scripts/gen_metrics_fixture.py

It writes tests/fixtures/metrics.json, which tests/lua/test_metrics.lua replays.  Every case
holds the inputs (integers, 0/1, decimals with 3 digits or tag strings, so both sides read the
same numbers) and what the reference library returned:
  * "classification": y_true, y_pred (class ids), and for each average in binary (two-class
    cases only), micro, macro, weighted and None the precision, recall, F1 (and support for
    None) of sklearn.metrics.precision_recall_fscore_support (zero_division=0, i.e. the
    default's values without the warning); some with an explicit labels list.
  * "multilabel": probabilities [N, K], targets [N, K], a threshold; sklearn's scores on the
    indicator matrix probs >= threshold for micro, macro, weighted and None.
  * "regression": x, y; scipy.stats.pearsonr, scipy.stats.spearmanr (ties get average ranks),
    scipy.stats.rankdata of x, sklearn's mean_squared_error and mean_absolute_error.
  * "seqeval": gold and predicted sentences of BIO / BIOES tags (random, so with I- after O, type
    changes inside a chunk and E/S tags), seqeval's get_entities of the flattened gold side,
    precision/recall/F1 micro, macro and weighted, the per-type report
    (classification_report(output_dict=True)) and accuracy_score.
"""
import importlib.metadata
import json
import os
import random
import warnings

import numpy as np
import scipy
import scipy.stats
import sklearn
from seqeval.metrics import accuracy_score, classification_report
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as seq_prfs
from seqeval.metrics.sequence_labeling import get_entities
from sklearn.metrics import mean_absolute_error, mean_squared_error, precision_recall_fscore_support

warnings.simplefilter("ignore")
rng = random.Random(20261204)
np.random.seed(20261204)


def fl(v):
    return [float(x) for x in np.atleast_1d(v)]


def classification(name, y_true, y_pred, labels=None, binary=False):
    c = {"name": name, "y_true": y_true, "y_pred": y_pred, "labels": labels, "scores": {}}
    avgs = ["micro", "macro", "weighted", None] + (["binary"] if binary else [])
    for avg in avgs:
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=avg, labels=labels, zero_division=0)
        key = avg or "none"
        c["scores"][key] = {"precision": fl(p), "recall": fl(r), "f1": fl(f)}
        if avg is None:
            c["scores"][key]["support"] = [int(x) for x in s]
            c["scores"][key]["labels"] = labels or sorted(set(y_true) | set(y_pred))
    return c


def multilabel(name, n, k, threshold, density=0.35):
    probs = np.round(np.random.rand(n, k), 3)
    # targets correlated with the probabilities, so the scores are not trivial
    targets = (np.random.rand(n, k) < (0.6 * probs + 0.4 * density)).astype(int)
    if k > 3:
        targets[:, k - 1] = 0  # a label that never occurs
        probs[:, k - 2] = np.round(np.random.rand(n) * 0.2, 3)  # a label never predicted at 0.5
    pred = (probs >= threshold).astype(int)
    c = {"name": name, "probs": probs.tolist(), "targets": targets.tolist(), "threshold": threshold, "scores": {}}
    for avg in ["micro", "macro", "weighted", None]:
        p, r, f, s = precision_recall_fscore_support(targets, pred, average=avg, zero_division=0)
        key = avg or "none"
        c["scores"][key] = {"precision": fl(p), "recall": fl(r), "f1": fl(f)}
        if avg is None:
            c["scores"][key]["support"] = [int(x) for x in s]
    return c


def regression(name, x, y):
    return {
        "name": name, "x": x, "y": y,
        "pearson": float(scipy.stats.pearsonr(x, y)[0]),
        "spearman": float(scipy.stats.spearmanr(x, y)[0]),
        "rank_x": fl(scipy.stats.rankdata(x)),
        "mse": float(mean_squared_error(y, x)),
        "mae": float(mean_absolute_error(y, x)),
    }


def random_tags(n, types, scheme, p_o=0.45):
    prefixes = ["B", "I"] if scheme == "BIO" else ["B", "I", "E", "S"]
    return ["O" if rng.random() < p_o else rng.choice(prefixes) + "-" + rng.choice(types) for _ in range(n)]


def plausible(n, types):
    """Mostly well-formed BIO: entities of 1-4 tokens."""
    out = []
    while len(out) < n:
        if rng.random() < 0.5:
            out.append("O")
        else:
            t = rng.choice(types)
            out += ["B-" + t] + ["I-" + t] * rng.randint(0, 3)
    return out[:n]


def corrupt(seq, types, rate):
    """A 'prediction': some tags replaced (type swaps, B<->I, dropped to O)."""
    out = list(seq)
    for i, tag in enumerate(out):
        if rng.random() < rate:
            k = rng.random()
            if tag == "O":
                out[i] = rng.choice(["B-", "I-"]) + rng.choice(types)
            elif k < 0.35:
                out[i] = tag[0] + "-" + rng.choice(types)
            elif k < 0.7:
                out[i] = ("I" if tag[0] == "B" else "B") + tag[1:]
            else:
                out[i] = "O"
    return out


def seq_case(name, gold, pred):
    c = {"name": name, "gold": gold, "pred": pred}
    c["entities_gold"] = [[t, s, e] for t, s, e in get_entities(gold)]
    for avg in ["micro", "macro", "weighted"]:
        p, r, f, s = seq_prfs(gold, pred, average=avg, zero_division=0)
        c[avg] = {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
    rep = classification_report(gold, pred, output_dict=True, zero_division=0)
    c["per_type"] = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                         "f1": float(v["f1-score"]), "support": int(v["support"])}
                     for k, v in rep.items() if not k.endswith(" avg")}
    c["accuracy"] = float(accuracy_score(gold, pred))
    return c


def main():
    cases = {"classification": [], "multilabel": [], "regression": [], "seqeval": []}
    cl = cases["classification"]
    y = [rng.randint(0, 1) for _ in range(60)]
    cl.append(classification("binary_60", y, [v if rng.random() < 0.7 else 1 - v for v in y], binary=True))
    y = [rng.randint(0, 1) for _ in range(25)]
    cl.append(classification("binary_all_pred_0", y, [0] * 25, binary=True))
    y = [rng.randint(0, 4) for _ in range(80)]
    p = [v if rng.random() < 0.55 else rng.randint(0, 3) for v in y]  # class 4 never predicted
    cl.append(classification("multiclass_5", y, p))
    cl.append(classification("multiclass_5_labels_subset", y, p, labels=[0, 2, 4]))
    cl.append(classification("multiclass_labels_absent", [0, 1, 1, 2, 2, 2], [0, 2, 1, 2, 0, 2], labels=[0, 1, 2, 3]))

    ml = cases["multilabel"]
    ml.append(multilabel("ml_40x6_0.5", 40, 6, 0.5))
    ml.append(multilabel("ml_30x4_0.3", 30, 4, 0.3))

    rg = cases["regression"]
    x = [round(rng.gauss(0, 1), 3) for _ in range(50)]
    rg.append(regression("gauss_50", x, [round(0.6 * v + rng.gauss(0, 0.8), 3) for v in x]))
    x = [float(rng.randint(1, 5)) for _ in range(40)]  # many ties (ratings)
    rg.append(regression("ties_40", x, [float(min(5, max(1, v + rng.randint(-1, 1)))) for v in x]))
    rg.append(regression("negative", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3.1, 2.0, 2.0, 0.5, -1.0, -1.0]))

    sq = cases["seqeval"]
    types = ["PER", "LOC", "ORG"]
    gold = [plausible(rng.randint(1, 15), types) for _ in range(40)]
    sq.append(seq_case("bio_plausible", gold, [corrupt(s, types, 0.15) for s in gold]))
    gold = [random_tags(rng.randint(1, 12), types, "BIO") for _ in range(40)]
    sq.append(seq_case("bio_random", gold, [random_tags(len(s), types, "BIO") for s in gold]))
    gold = [random_tags(rng.randint(1, 12), types, "BIOES") for _ in range(40)]
    sq.append(seq_case("bioes_random", gold, [corrupt(s, types, 0.3) for s in gold]))
    sq.append(seq_case("hand", [["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "I-LOC"], ["O", "B-MISC", "I-MISC"]],
                       [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-ORG", "B-LOC"], ["O", "B-MISC", "O"]]))

    doc = {"version": 1, "versions": {"sklearn": sklearn.__version__, "scipy": scipy.__version__,
                                      "seqeval": importlib.metadata.version("seqeval")}, **cases}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metrics.json")
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(out), {k: len(v) for k, v in cases.items()})


if __name__ == "__main__":
    main()
