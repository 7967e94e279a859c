#!/usr/bin/python3
"""tune_fusion.py -- choose search's fusion weights by cross-validation on the
training photos, never on the benchmark.

Search fuses four signals (src/search/search.c): the facts' sentence vector,
the learned image-text projection, BM25 over the facts and the structured
match; an image missing what the query names keeps a fraction of its score.
How much each counts is a choice that must not be made on ../shared/data/coco
(bench/retrieval reports on it). Here, for each of the concept head's five
folds (tools/train_concepts.py):
  1. a head is trained without that fold's photos (--holdout-fold), with the
     settings cross-validation chose for the committed head (--settings);
  2. a real `scry serve` with that head indexes the fold's photos;
  3. every caption of those photos is asked (floor off, signals on), and
     each candidate's signal values are kept.
A grid over the weights then ranks the candidates offline exactly as
search_run does (the per-query normalisation does not change the order), and
the weights with the best balanced Recall@5 -- the mean of the Flickr
photos' and the COCO photos' (both kinds count, whatever their numbers) --
are printed, for search.c. The structured weight is held at 0.2 or more and
the factor for absent objects at 0.5: what the product needs (a constraint
must move results; "an elephant" must not return a giraffe), which caption
retrieval alone does not measure.

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
                    "--settings", os.path.join(REPO, "models", "concepts.json"),
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


def arrays(queries):
    """Signals as arrays: S[q, c, 4] (vector, image, bm25, structured),
    absent[q, c], valid[q, c], target[q] (candidate index, -1 if absent)."""
    nc = max(len(c) for _, c in queries)
    S = np.zeros((len(queries), nc, 4))
    absent = np.zeros((len(queries), nc), bool)
    valid = np.zeros((len(queries), nc), bool)
    target = np.full(len(queries), -1)
    for i, (want, cands) in enumerate(queries):
        for j, (name, s) in enumerate(cands):
            S[i, j] = (max(s["vector"], 0), max(s["image"], 0), s["bm25"], s["structured"])
            absent[i, j] = s["absent"]
            valid[i, j] = True
            if name == want:
                target[i] = j
    return S, absent, valid, target


def evaluate(arr, w):
    """Mean R@5 and MRR@10 over the queries for weights w, ranking exactly
    as search_run does (ties: the order the candidates came in)."""
    S, absent, valid, target = arr
    wv, wi, wb, ws, factor = w
    f = S @ np.array([wv, wi, wb, ws]) * np.where(absent, factor, 1.0)
    f = np.where(valid, f, -1.0)
    rows = np.arange(len(target))
    t = np.where(target >= 0, f[rows, np.maximum(target, 0)], np.inf)
    ahead = (f > t[:, None]).sum(1) + ((f == t[:, None]) & (np.arange(f.shape[1]) < target[:, None])).sum(1)
    rank = np.where(target >= 0, ahead + 1, 10 ** 6)
    return float((rank <= 5).mean()), float(np.where(rank <= 10, 1.0 / rank, 0).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work", default="/tmp/scry-tune")
    args = ap.parse_args()
    items = []
    for name in tc.TRAIN_SETS:
        for it in tc.load_items(args.shared, name):
            it["set"] = name
            items.append(it)
    folds = tc.fold_of(len(items))
    per_set = {name: [] for name in tc.TRAIN_SETS}     # per fold, the queries of each set
    for f in range(tc.FOLDS):
        photos = [it for it, k in zip(items, folds) if k == f]
        models = fold_models(args.work, f, args.shared)
        queries = fold_signals(args.work, f, photos, models)
        set_of = {os.path.basename(it["path"]): it["set"] for it in photos}
        for name in tc.TRAIN_SETS:
            per_set[name].append(arrays([q for q in queries if set_of[q[0]] == name]))
        print("fold %d: %d photos, %d queries" % (f, len(photos), len(queries)), flush=True)

    def score(w):
        r5 = {name: float(np.mean([evaluate(a, w)[0] for a in per_set[name]])) for name in tc.TRAIN_SETS}
        return float(np.mean(list(r5.values()))), r5

    grid = [0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8]
    best = None
    for wv, wi, wb, ws in itertools.product(grid, grid, grid, [g for g in grid if g >= 0.2]):
        w = (wv, wi, wb, ws, 0.5)
        bal, r5 = score(w)
        if best is None or bal > best[0]:
            best = (bal, r5, w)
    for label, w in (("before the concept head", (0.45, 0.0, 0.35, 0.30, 0.5)),
                     ("committed (search.c)", (0.0, 0.6, 0.1, 0.2, 0.5)), ("best", best[2])):
        bal, r5 = score(w)
        print("%-24s vector %.2f image %.2f bm25 %.2f structured %.2f absent x%.2f: balanced CV R@5 "
              "%.3f (%s)" % ((label,) + w + (bal, ", ".join("%s %.3f" % kv for kv in r5.items()))))


if __name__ == "__main__":
    main()
