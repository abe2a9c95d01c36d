"""An independent Camelyon16 evaluation for test/slide/slide-eval.test.ts, written from the
challenge's published rules with numpy, scipy and scikit-learn: reads a JSON case on stdin,
prints the figures as JSON. Masks are drawn by testing each mask pixel's centre against the
polygons (even-odd), the rule pcam documents; everything after that is scipy's and the
challenge's: distance transform, hole filling, 8-connected labels, major axis from the inertia
tensor, hits by the lesion under each detection, FROC by np.interp."""
import json
import sys

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score


def inside(ring, xs, ys):
    """Even-odd test of points (xs, ys) against a closed ring of [x, y] vertices."""
    ring = np.asarray(ring, dtype=float)
    result = np.zeros(xs.shape, dtype=bool)
    n = len(ring)
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[i - 1]
        crosses = (yi > ys) != (yj > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (ys - yi) / (yj - yi) + xi
        result ^= crosses & (xs < x_at)
    return result


def lesions(slide):
    ds = slide["downsample"]
    width = -(-slide["width"] // ds)
    height = -(-slide["height"] // ds)
    ys, xs = np.mgrid[0:height, 0:width]
    cx = (xs + 0.5) * ds
    cy = (ys + 0.5) * ds
    mask = np.zeros((height, width), dtype=bool)
    for kind in ("tumour", "exclude"):
        for region in slide["regions"]:
            if region["kind"] != kind:
                continue
            covered = inside(region["outer"], cx, cy)
            for hole in region["holes"]:
                covered &= ~inside(hole, cx, cy)
            if kind == "tumour":
                mask |= covered
            else:
                mask &= ~covered
    pixel_um = slide["mpp"] * ds
    distance = ndimage.distance_transform_edt(~mask)
    grown = ndimage.binary_fill_holes(distance < 37.5 / pixel_um)
    labels, count = ndimage.label(grown, structure=np.ones((3, 3)))
    itc = []
    for lesion in range(1, count + 1):
        yy, xx = np.nonzero(labels == lesion)
        cov = np.cov(np.vstack([xx, yy]), bias=True)
        major = 4 * np.sqrt(max(np.linalg.eigvalsh(cov).max(), 0)) if len(xx) > 1 else 0
        itc.append(major * pixel_um < 275)
    return labels, itc


def main():
    case = json.load(sys.stdin)
    fps, tps, lesion_total, itc_total = [], [], 0, 0
    for slide in case["slides"]:
        probs = [d[2] for d in slide["detections"]]
        if slide["label"] == 0:
            fps.append(probs)
            tps.append([])
            continue
        labels, itc = lesions(slide)
        hits = np.zeros(len(itc))
        false_positives = []
        ds = slide["downsample"]
        for x, y, p in slide["detections"]:
            i, j = int(x / ds), int(y / ds)
            hit = labels[j, i] if 0 <= j < labels.shape[0] and 0 <= i < labels.shape[1] else 0
            if hit == 0:
                false_positives.append(p)
            elif not itc[hit - 1]:
                hits[hit - 1] = max(hits[hit - 1], p)
        fps.append(false_positives)
        tps.append(list(hits))
        itc_total += sum(itc)
        lesion_total += len(itc) - sum(itc)
    all_fp = [p for s in fps for p in s]
    all_tp = [p for s in tps for p in s]
    thresholds = sorted(set(all_fp + all_tp))[1:]
    fp_rate = [sum(p >= t for p in all_fp) / len(fps) for t in thresholds] + [0]
    sens = [sum(p >= t for p in all_tp) / lesion_total for t in thresholds] + [0]
    rates = [0.25, 0.5, 1, 2, 4, 8]
    at = np.interp(rates, fp_rate[::-1], sens[::-1])
    scores = [s["score"] for s in case["slides"]]
    truth = [s["label"] for s in case["slides"]]
    print(
        json.dumps(
            {
                "froc": float(np.mean(at)),
                "sensitivity_at": {str(r): float(v) for r, v in zip(rates, at)},
                "lesions": int(lesion_total),
                "itc_lesions": int(itc_total),
                "slide_auc": float(roc_auc_score(truth, scores)),
            }
        )
    )


main()
