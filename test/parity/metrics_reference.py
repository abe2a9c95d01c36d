"""scikit-learn's metrics on the predictions test/parity/metrics.test.ts sends (JSON in, JSON out)."""
import json
import sys

import numpy as np
from sklearn import metrics
from sklearn.calibration import calibration_curve


def main():
    request = json.load(sys.stdin)
    replies = []
    for case in request["cases"]:
        p = np.array(case["probabilities"], dtype=np.float64)
        y = np.array(case["labels"], dtype=np.int64)
        t = case["threshold"]
        predicted = (p >= t).astype(np.int64)
        tn, fp, fn, tp = metrics.confusion_matrix(y, predicted, labels=[0, 1]).ravel()
        fpr, tpr, thresholds = metrics.roc_curve(y, p, drop_intermediate=False)
        precision, recall, pr_thresholds = metrics.precision_recall_curve(y, p)
        observed, predicted_mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
        replies.append({
            "rocAuc": metrics.roc_auc_score(y, p),
            "averagePrecision": metrics.average_precision_score(y, p),
            "logLoss": metrics.log_loss(y, p, labels=[0, 1]),
            "brier": metrics.brier_score_loss(y, p),
            "accuracy": metrics.accuracy_score(y, predicted),
            "precision": metrics.precision_score(y, predicted, zero_division=0),
            "sensitivity": metrics.recall_score(y, predicted, zero_division=0),
            "specificity": metrics.recall_score(1 - y, 1 - predicted, zero_division=0),
            "f1": metrics.f1_score(y, predicted, zero_division=0),
            "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)},
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "precisionCurve": precision.tolist(),
            "recallCurve": recall.tolist(),
            "prThresholds": pr_thresholds.tolist(),
            "calibrationObserved": observed.tolist(),
            "calibrationPredicted": predicted_mean.tolist(),
        })
    multi = request["multiclass"]
    matrix = metrics.confusion_matrix(multi["truth"], multi["predicted"], labels=list(range(multi["classes"])))
    json.dump({"results": replies, "multiclassConfusion": matrix.tolist()}, sys.stdout)
    return
    json.dump({"results": replies}, sys.stdout)


if __name__ == "__main__":
    main()
