#!/usr/bin/python3
"""tune_fusion.py -- choose search's fusion weights by cross-validation on the
training photos, never on the benchmark.

Search fuses four signals (src/search/search.c): the facts' sentence vector,
the learned image-text projection, BM25 over the facts and the structured
match; an image missing what the query names keeps a fraction of its score.
How much each counts is a choice that must not be made on ../shared/data/coco
(bench/retrieval reports on it). Here, for each of the concept head's five
folds (tools/train_concepts.py):
  1. a head is trained without that fold's photos (--holdout-fold);
  2. a real `scry serve` with that head indexes the fold's photos;
  3. every caption of those photos is asked (floor off, signals on), and
     each candidate's signal values are kept.
A grid over the weights then ranks the candidates offline exactly as
search_run does (the per-query normalisation does not change the order), and
the weights with the best mean text->image Recall@5 over the folds (MRR@10
breaking ties) are printed, for search.c.

  tools/tune_fusion.py [--shared ../shared] [--work /tmp/scry-tune]
"""
import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import train_concepts as tc  # noqa: E402
from conftest import Server, read  # noqa: E402


def fold_models(work, f, shared):
    """deps/models with the fold's own concept head in place of ours."""
    d = os.path.join(work, "fold%d" % f, "models")
    if os.path.exists(os.path.join(d, "concepts.bin")):
        return d
    os.makedirs(d, exist_ok=True)
    src = os.path.join(REPO, "deps", "models")
    for name in os.listdir(src):
        if name != "concepts.bin" and not os.path.exists(os.path.join(d, name)):
            os.symlink(os.path.join(src, name), os.path.join(d, name))
    subprocess.run([sys.executable, os.path.join(HERE, "train_concepts.py"), "--shared", shared,
                    "--work", os.path.join(work, "features"), "--holdout-fold", str(f),
                    "--out", os.path.join(d, "concepts.bin")], check=True, stdout=subprocess.DEVNULL)
    return d


def fold_signals(work, f, photos, models):
    """[(want, [(filename, signals), ...])] for every caption of the fold."""
    cache = os.path.join(work, "fold%d" % f, "signals.json")
    if os.path.exists(cache):
        return json.load(open(cache))
    data = os.path.join(work, "fold%d" % f, "data")
    shutil.rmtree(data, ignore_errors=True)
    server = Server(data, ["--workers", "2", "--ocr", "0", "--models", models]).start(timeout=120)
    out = []
    try:
        for i in range(0, len(photos), 16):
            batch = [(os.path.basename(it["path"]), read(it["path"])) for it in photos[i:i + 16]]
            job = server.upload(batch).json()["job_id"]
            assert server.wait_job(job, timeout=900)["status"] == "completed"
        for it in photos:
            for cap in it["captions"]:
                path = "/v1/search?" + urllib.parse.urlencode(
                    {"q": cap, "floor": "off", "limit": 200, "signals": "on"})
                res = server.get(path).json()["results"]
                out.append((os.path.basename(it["path"]),
                            [(r["filename"], r["signals"]) for r in res]))
    finally:
        server.stop()
    json.dump(out, open(cache, "w"))
    return out


def evaluate(queries, w):
    """Mean R@5 and MRR@10 over queries for weights w."""
    wv, wi, wb, ws, absent = w
    r5 = mrr = 0.0
    for want, cands in queries:
        scores = []
        for name, s in cands:
            f = wv * max(s["vector"], 0) + wi * max(s["image"], 0) + wb * s["bm25"] + ws * s["structured"]
            scores.append((f * (absent if s["absent"] else 1.0), name))
        scores.sort(key=lambda x: -x[0])
        names = [n for _, n in scores]
        if want in names[:5]:
            r5 += 1
        if want in names[:10]:
            mrr += 1.0 / (names.index(want) + 1)
    return r5 / len(queries), mrr / len(queries)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work", default="/tmp/scry-tune")
    args = ap.parse_args()
    items = []
    for name in tc.TRAIN_SETS:
        items += tc.load_items(args.shared, name)
    folds = tc.fold_of(len(items))
    per_fold = []
    for f in range(tc.FOLDS):
        photos = [it for it, k in zip(items, folds) if k == f]
        models = fold_models(args.work, f, args.shared)
        per_fold.append(fold_signals(args.work, f, photos, models))
        print("fold %d: %d photos, %d queries" % (f, len(photos), len(per_fold[-1])), flush=True)
    grid = [0.0, 0.15, 0.3, 0.45, 0.6]
    best = None
    for wv, wi, wb, ws in itertools.product(grid, grid, grid, grid):
        if wv + wi + wb + ws == 0:
            continue
        for absent in (0.5, 0.75, 1.0):
            w = (wv, wi, wb, ws, absent)
            res = [evaluate(q, w) for q in per_fold]
            r5, mrr = float(np.mean([r[0] for r in res])), float(np.mean([r[1] for r in res]))
            if best is None or (r5, mrr) > best[0]:
                best = ((r5, mrr), w, [r[0] for r in res])
    (r5, mrr), w, folds_r5 = best
    cur = (0.45, 0.45, 0.35, 0.30, 0.5)
    cres = [evaluate(q, cur) for q in per_fold]
    print("weights as committed %s: CV R@5 %.3f MRR %.3f" % (cur, np.mean([r[0] for r in cres]),
                                                             np.mean([r[1] for r in cres])))
    print("best vector %.2f image %.2f bm25 %.2f structured %.2f absent x%.2f: CV R@5 %.3f "
          "(folds %s) MRR %.3f" % (w + (r5, " ".join("%.3f" % x for x in folds_r5), mrr)))


if __name__ == "__main__":
    main()
