#!/usr/bin/python3
"""train_concepts.py -- train Scry's visual-concept head (models/concepts.bin).

Offline tool (Debian's /usr/bin/python3 + python3-numpy), like tools/tfjs2onnx.py:
the product only reads the file it writes (src/vision/concepts.c).

What it learns, from captioned photos only (../shared/data/flickr8k-train and
coco-extra: 855 photos, 5 captions each). ../shared/data/coco/ -- the
development benchmark -- is never read here.

  1. Features: build/tools/concept-features runs the product's own decoder,
     detector (with its inner tensors exposed) and photo statistics on every
     photo: the same CONCEPT_FEAT_DIM floats the concepts stage computes at
     index time (vision/concepts.h). The blocks used are standardised.
  2. Concepts: the caption words, mapped the way the product maps words
     (build/tools/scry-text: keyword-index terms of WordNet base forms, so
     "men" = "man", "running" = "run"). A word is a concept when at least
     MIN_PHOTOS training photos have it in some caption, it names something
     visible (not a number, preposition or filler word), and the detector
     does not already cover it (the lexicon maps it to one COCO label: "dog",
     "bike", "man" -> person; person words come from the faces). Label of a
     photo: 1 when any of its captions uses the word.
     One ridge regression per concept (shared features, one solve); the
     regularisation is chosen by 5-fold cross-validation (mean AP), the
     out-of-fold scores calibrate each concept (Platt: p = sigmoid(a s + b)),
     and concepts whose cross-validated AP is under MIN_AP are dropped.
  3. Image-text projection: regularised CCA between the image features and
     each photo's captions -- the mean, over its five captions, of the SIF
     vector (the product's sentence encoder) beside an idf-weighted bag of
     the caption's concept keys -- so that a query and a photo map into one
     space where cosine ranks photos for the query. Regularisation and the
     bag's weight chosen by cross-validated text->image Recall@5 within the
     folds (the bag's vocabulary and idf from the training folds only).

Everything is deterministic (fixed folds, closed-form solves); re-running it
on the same data reproduces the file up to BLAS rounding in the last bits of
a float16 weight. The report it prints (and models/concepts.json) gives the
recipe and every cross-validated figure.

Usage (from the repository root, after ./scripts/setup.sh && make):
  tools/train_concepts.py [--shared ../shared] [--work /tmp/scry-concepts]
                          [--out models/concepts.bin]
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys

import numpy as np

FEAT_VERSION = 1            # vision/concepts.h CONCEPT_FEAT_VERSION
FEAT_DIM = 7044             # vision/concepts.h CONCEPT_FEAT_DIM
FILE_VERSION = 2
TRAIN_SETS = ("flickr8k-train", "coco-extra")
# Feature blocks (vision/concepts.c): name -> (offset, size). The 3x3 grid
# of the backbone map is left out: cross-validation scored it lower (see
# docs/concepts.md) and it is 60% of the dimensions.
BLOCKS = {"backbone_mean": (0, 480), "backbone_max": (480, 480), "backbone_grid": (960, 4320),
          "se14": (5280, 720), "se11": (6000, 528), "head": (6528, 128), "kp_max": (6656, 80),
          "kp_mean": (6736, 80), "det_count": (6816, 80), "det_area": (6896, 80),
          "stats": (6976, 68)}
USE_BLOCKS = ("backbone_mean", "backbone_max", "se14", "se11", "head", "kp_max", "kp_mean",
              "det_count", "det_area", "stats")
MIN_PHOTOS = 8
MIN_AP = 0.15
FOLDS = 5
SEED = 20261201
CONCEPT_LAMBDAS = (1.0, 3.0, 10.0)          # x feature count
CCA_LX = (3.0, 5.0, 10.0)
CCA_LY = (1e-3, 3e-3, 1e-2)
# The text side of the projection: a sentence's SIF vector and, beside it at
# weight BOW_ALPHA, its bag of concept keys (words in >= BOW_MIN_CAPTIONS
# training captions, idf-weighted, unit length) -- the SIF vector knows words
# the captions never used, the bag what these photos' words meant here.
BOW_ALPHAS = (0.7, 1.0, 1.3)
BOW_MIN_CAPTIONS = 3
# Words that say nothing visual about a photo: numbers, prepositions,
# quantifiers and framing words that captions are full of.
NONVISUAL = set("""
one two three four five six seven eight nine ten dozen couple pair several many few lot lots
other another each some both all any most front back side top bottom middle next near behind
across along around through over under into onto off out down up away toward towards beside
while something someone somebody thing things area picture photo image view shot scene
camera background foreground way look looks looking very large small big little long
""".split())
# Colour words are said by the colour facts (whole photo, each object, each
# person's clothing), measured against captions in bench/concepts; as
# concepts they learned the training photos' shirts and scored at chance on
# held-out photos.
NONVISUAL |= set("black white gray grey red orange yellow green blue purple pink brown tan".split())


def run(cmd, stdin_text=None):
    r = subprocess.run(cmd, input=stdin_text, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("train_concepts: %s failed: %s" % (" ".join(cmd), r.stderr.strip()))
    return r.stdout


def load_items(shared, name):
    path = os.path.join(shared, "data", name, "captions.jsonl")
    with open(path) as f:
        items = [json.loads(line) for line in f if line.strip()]
    for it in items:
        it["path"] = os.path.join(shared, "data", name, "images", it["file"])
        it["captions"] = it["captions"][:5]
    return items


def features(tools, models, items, work, name):
    """The concept features of every photo (cached by the list and model)."""
    lst = os.path.join(work, name + ".list")
    with open(lst, "w") as f:
        f.write("".join(it["path"] + "\n" for it in items))
    h = hashlib.sha256(open(lst, "rb").read())
    h.update(open(os.path.join(models, "centernet.onnx"), "rb").read())
    h.update(open(os.path.join(tools, "concept-features"), "rb").read())
    stamp, out = os.path.join(work, name + ".stamp"), os.path.join(work, name)
    if not (os.path.exists(out + ".f32") and open(stamp).read() == h.hexdigest()
            if os.path.exists(stamp) else False):
        print("extracting features of %d %s photos" % (len(items), name), flush=True)
        subprocess.run([os.path.join(tools, "concept-features"), models, lst, out], check=True,
                       stdout=subprocess.DEVNULL)
        open(stamp, "w").write(h.hexdigest())
    X = np.fromfile(out + ".f32", dtype=np.float32).reshape(-1, FEAT_DIM)
    if len(X) != len(items):
        sys.exit("train_concepts: %s.f32 has %d rows for %d photos" % (out, len(X), len(items)))
    return X.astype(np.float64)


def fold_of(n):
    """The cross-validation fold of each of n training photos (fixed)."""
    return np.random.default_rng(SEED).permutation(n) % FOLDS


def tokens(text):
    return "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()


def word_keys(tools, words):
    """word -> concept key: the keyword-index term of the word's WordNet base
    form (both computed by the product's code), or None for a stopword."""
    tool = os.path.join(tools, "scry-text")
    terms = run([tool, "terms"], "\n".join(words) + "\n").split("\n")
    lemmas = run([tool, "lemma"], "\n".join(words) + "\n").split("\n")
    lterms = run([tool, "terms"], "\n".join(lemmas[:len(words)]) + "\n").split("\n")
    out = {}
    for w, t, lt in zip(words, terms, lterms):
        t, lt = t.strip(), lt.strip()
        out[w] = (lt.split()[0] if lt else t.split()[0]) if t else None
    return out


def standardise(A, B=None):
    mu, sd = A.mean(0), A.std(0) + 1e-6
    return (A - mu) / sd, (None if B is None else (B - mu) / sd), mu, sd


def ridge(A, Y, lam):
    """W minimising |A W - Y|^2 + lam |W|^2, in the dual (n << d)."""
    K = A @ A.T
    return A.T @ np.linalg.solve(K + lam * np.eye(len(A)), Y)


def average_precision(scores, y):
    order = np.argsort(-scores, kind="stable")
    y = y[order]
    if y.sum() == 0:
        return float("nan")
    hits = np.cumsum(y)
    return float((hits / np.arange(1, len(y) + 1) * y).sum() / y.sum())


def platt(s, y):
    """a, b of p = sigmoid(a s + b) by Newton's method on the log loss (with
    Platt's smoothed targets, so that a perfectly separated concept does not
    get an infinite slope)."""
    npos, nneg = y.sum(), len(y) - y.sum()
    t = np.where(y > 0, (npos + 1) / (npos + 2), 1 / (nneg + 2))
    a, b = 1.0, 0.0
    for _ in range(100):
        p = sigmoid(a * s + b)
        g = np.array([((p - t) * s).sum(), (p - t).sum()])
        w = p * (1 - p) + 1e-12
        H = np.array([[(w * s * s).sum(), (w * s).sum()], [(w * s).sum(), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def bow_vocabulary(photo_caption_keys):
    """Concept keys in >= BOW_MIN_CAPTIONS captions (sorted) and their idf."""
    df, ncap = {}, 0
    for caps in photo_caption_keys:
        for ks in caps:
            ncap += 1
            for key in ks:
                df[key] = df.get(key, 0) + 1
    voc = sorted(k for k, c in df.items() if c >= BOW_MIN_CAPTIONS)
    return voc, np.array([np.log(ncap / df[k]) for k in voc])


def bag(keys, index, idf):
    v = np.zeros(len(idf))
    for key in keys:
        if key in index:
            v[index[key]] = idf[index[key]]
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def text_features(Q, cap_keys, voc, idf, alpha):
    """Per caption: [its SIF vector, alpha x its bag of keys] (n x 5 x t)."""
    index = {k: i for i, k in enumerate(voc)}
    B = np.array([[bag(ks, index, idf) for ks in caps] for caps in cap_keys])
    return np.concatenate([Q, alpha * B], axis=2)


def sigmoid(z):
    return 1 / (1 + np.exp(-np.clip(z, -60, 60)))


def nrm(v):
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


def cca(A, T, lx, ly, k):
    """Regularised CCA of standardised image features A (n x d) and centred
    text vectors T (n x t). Returns (Wx d x k, Wy t x k, canonical
    correlations); both sides map into a space compared by cosine after
    scaling each axis by its correlation."""
    n = len(A)
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    Z = U * s
    ix = 1 / np.sqrt(s ** 2 / n + lx)
    Cyy = T.T @ T / n + ly * np.eye(T.shape[1])
    wy, vy = np.linalg.eigh(Cyy)
    iy = vy @ np.diag(1 / np.sqrt(wy)) @ vy.T
    M = (ix[:, None] * (Z.T @ T / n)) @ iy
    u, sv, vt = np.linalg.svd(M, full_matrices=False)
    Wx = Vt.T @ (ix[:, None] * u[:, :k])
    Wy = iy @ vt.T[:, :k]
    return Wx, Wy, sv[:k]


def recall_at5(P, Q, want):
    S = Q @ P.T
    rank = (S > S[np.arange(len(S)), want][:, None]).sum(1)
    return float((rank < 5).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--tools", default="build/tools")
    ap.add_argument("--models", default="deps/models")
    ap.add_argument("--wordvec", default="deps/wordvec/wordvec.bin")
    ap.add_argument("--work", default="/tmp/scry-concepts")
    ap.add_argument("--out", default="models/concepts.bin")
    ap.add_argument("--holdout-fold", type=int, default=-1,
                    help="leave that cross-validation fold's photos out (tools/tune_fusion.py: "
                         "a head that never saw the photos it is then searched on)")
    ap.add_argument("--settings", help="a concepts.json whose chosen regularisation and projection "
                    "settings to reuse instead of cross-validating them again (tools/tune_fusion.py)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    items, X = [], []
    for name in TRAIN_SETS:
        its = load_items(args.shared, name)
        X.append(features(args.tools, args.models, its, args.work, name))
        items += its
    X = np.vstack(X)
    if args.holdout_fold >= 0:
        keep = fold_of(len(items)) != args.holdout_fold
        items = [it for it, k in zip(items, keep) if k]
        X = X[keep]
        print("holding out fold %d: training on %d photos" % (args.holdout_fold, len(items)))
    n = len(items)
    caps = [c.replace("\n", " ") for it in items for c in it["captions"]]
    assert len(caps) == 5 * n, "every training photo has 5 captions"

    # caption words -> concept keys, with the surface words seen for each key
    words = sorted({w for c in caps for w in tokens(c)})
    w2k = word_keys(args.tools, words)
    surface, photo_keys = {}, []
    for i in range(n):
        ks = set()
        for c in caps[5 * i:5 * i + 5]:
            for w in tokens(c):
                k = w2k.get(w)
                if k:
                    ks.add(k)
                    surface.setdefault(k, {}).setdefault(w, 0)
                    surface[k][w] += 1
        photo_keys.append(ks)
    df = {}
    for ks in photo_keys:
        for k in ks:
            df[k] = df.get(k, 0) + 1
    display = {k: max(sorted(v.items()), key=lambda kv: kv[1])[0] for k, v in surface.items()}
    cands = sorted((k for k, c in df.items() if c >= MIN_PHOTOS and len(k) >= 3 and not k.isdigit()
                    and display[k] not in NONVISUAL and k not in NONVISUAL),
                   key=lambda k: (-df[k], k))
    how = run([os.path.join(args.tools, "scry-text"), "coco"],
              "\n".join(display[k] for k in cands) + "\n").split("\n")
    covered = {k for k, h in zip(cands, how) if h.strip() != "-" and
               h.split()[0] in ("exact", "synonym", "hyponym", "table") and "," not in h}
    vocab = [k for k in cands if k not in covered]
    print("%d photos, %d captions; %d words in >= %d photos; %d covered by the detector's labels; "
          "%d candidate concepts" % (n, len(caps), len(cands), MIN_PHOTOS, len(covered), len(vocab)))
    Y = np.array([[1.0 if k in ks else 0.0 for k in vocab] for ks in photo_keys])

    cols = np.concatenate([np.arange(BLOCKS[b][0], BLOCKS[b][0] + BLOCKS[b][1]) for b in USE_BLOCKS])
    X = X[:, cols]
    d = X.shape[1]
    folds = fold_of(n)

    fixed = json.load(open(args.settings)) if args.settings else None
    # --- concepts: lambda by CV mean AP, out-of-fold scores for calibration
    best = None
    for lam in ((fixed["concepts"]["ridge_lambda_x_d"],) if fixed else CONCEPT_LAMBDAS):
        S = np.zeros_like(Y)
        for f in range(FOLDS):
            tr = folds != f
            A, B, _, _ = standardise(X[tr], X[~tr])
            ym = Y[tr].mean(0)
            S[~tr] = B @ ridge(A, Y[tr] - ym, lam * d) + ym
        aps = np.array([average_precision(S[:, j], Y[:, j]) for j in range(len(vocab))])
        m = float(np.nanmean(aps))
        print("concepts: ridge lambda %.0f x d -> cross-validated mAP %.3f" % (lam, m), flush=True)
        if best is None or m > best[0]:
            best = (m, lam, S, aps)
    cv_map, lam_c, S_oof, aps = best
    keep = [j for j in range(len(vocab)) if aps[j] >= MIN_AP]
    print("concepts: lambda %.0f x d chosen; %d of %d concepts have CV AP >= %.2f (mean AP of kept %.3f)"
          % (lam_c, len(keep), len(vocab), MIN_AP, float(np.mean(aps[keep]))))
    A, _, mu, sd = standardise(X)
    ym = Y.mean(0)
    Wc = ridge(A, Y - ym, lam_c * d)
    concepts = []
    for j in keep:
        a, b = platt(S_oof[:, j], Y[:, j])
        concepts.append({"key": vocab[j], "word": display[vocab[j]], "photos": int(df[vocab[j]]),
                         "prevalence": round(float(Y[:, j].mean()), 4), "cv_ap": round(float(aps[j]), 4),
                         "platt_a": a, "platt_b": b, "bias": float(ym[j]), "j": j})

    # --- image-text projection: regularised CCA, chosen by CV R@5
    sif_path = os.path.join(args.work, "captions.sif.f32")
    run([os.path.join(args.tools, "scry-text"), "encode", args.wordvec, sif_path], "\n".join(caps) + "\n")
    Q = nrm(np.fromfile(sif_path, dtype=np.float32).astype(np.float64).reshape(n, 5, -1))
    sdim = Q.shape[2]
    cap_keys = [[set(w2k[w] for w in tokens(c) if w2k.get(w)) for c in caps[5 * i:5 * i + 5]]
                for i in range(n)]
    k = sdim
    best = None
    fp = fixed["projection"] if fixed else None
    for alpha in ((fp["bag_weight"],) if fp else BOW_ALPHAS):
        for lx in ((fp["lx"],) if fp else CCA_LX):
            for ly in ((fp["ly"],) if fp else CCA_LY):
                r = []
                for f in range(FOLDS):
                    tr = folds != f
                    voc, idf = bow_vocabulary([cap_keys[i] for i in np.where(tr)[0]])
                    F = text_features(Q, cap_keys, voc, idf, alpha)
                    A_, B_, _, _ = standardise(X[tr], X[~tr])
                    T = F[tr].mean(1)
                    tm = T.mean(0)
                    Wx, Wy, sv = cca(A_, T - tm, lx, ly, k)
                    P = nrm((B_ @ Wx) * sv)
                    q = F[~tr].reshape(-1, F.shape[2])
                    r.append(recall_at5(P, nrm(((q - tm) @ Wy) * sv), np.repeat(np.arange((~tr).sum()), 5)))
                m = float(np.mean(r))
                print("projection: bag weight %g, CCA lx %g ly %g -> CV text->image R@5 %.3f "
                      "(galleries of ~%d)" % (alpha, lx, ly, m, n // FOLDS), flush=True)
                if best is None or m > best[0]:
                    best = (m, alpha, lx, ly)
    cv_r5, alpha, lx, ly = best
    voc, idf = bow_vocabulary(cap_keys)
    F = text_features(Q, cap_keys, voc, idf, alpha)
    T = F.mean(1)
    tm = T.mean(0)
    Wx, Wy, sv = cca(A, T - tm, lx, ly, k)
    tdim = F.shape[2]
    print("projection: bag weight %g (%d keys), lx %g ly %g chosen (CV R@5 %.3f)"
          % (alpha, len(voc), lx, ly, cv_r5))

    # --- the file (little-endian; src/vision/concepts.c reads it)
    out = bytearray()
    out += b"SCRYCNPT" + struct.pack("<8I", FILE_VERSION, FEAT_VERSION, FEAT_DIM, d, len(concepts), sdim,
                                     len(voc), k)
    enc = b"sif-glove6b-100d-v1"
    out += struct.pack("<I", len(enc)) + enc
    out += np.asarray(cols, "<u4").tobytes()
    out += np.asarray(mu, "<f4").tobytes() + np.asarray(1 / sd, "<f4").tobytes()
    for c in concepts:
        for s in (c["word"].encode(), c["key"].encode()):
            out += struct.pack("<H", len(s)) + s
    for field in ("bias", "platt_a", "platt_b", "cv_ap"):
        out += np.asarray([c[field] for c in concepts], "<f4").tobytes()
    out += np.asarray(Wc[:, [c["j"] for c in concepts]], "<f2").tobytes()   # d x C, row-major
    for key in voc:
        out += struct.pack("<H", len(key.encode())) + key.encode()
    out += np.asarray(idf, "<f4").tobytes() + struct.pack("<f", alpha)
    out += np.asarray(tm, "<f4").tobytes() + np.asarray(sv, "<f4").tobytes()
    out += np.asarray(Wy, "<f4").tobytes()                                   # (sdim + V) x k
    out += np.asarray(Wx, "<f2").tobytes()                                   # d x k
    out += hashlib.sha256(bytes(out)).digest()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, args.out)
    summary = {
        "file": os.path.basename(args.out), "bytes": len(out), "sha256": hashlib.sha256(out).hexdigest(),
        "trained_on": list(TRAIN_SETS), "photos": n, "captions": len(caps),
        "never_seen": "../shared/data/coco (the development benchmark)",
        "features": {"blocks": list(USE_BLOCKS), "dims": d, "layout_version": FEAT_VERSION},
        "concepts": {"min_photos": MIN_PHOTOS, "min_cv_ap": MIN_AP, "ridge_lambda_x_d": lam_c,
                     "cv_map_all_candidates": round(cv_map, 4), "kept": len(concepts),
                     "cv_map_kept": round(float(np.mean([c["cv_ap"] for c in concepts])), 4),
                     "list": [{k: c[k] for k in ("word", "key", "photos", "prevalence", "cv_ap")}
                              for c in concepts]},
        "projection": {"method": "regularised CCA onto the captions' SIF vectors and bags of concept keys",
                       "bag_weight": alpha, "bag_keys": len(voc), "lx": lx, "ly": ly,
                       "rank": k, "cv_text_to_image_r5": round(cv_r5, 4), "cv_gallery": n // FOLDS},
        "folds": FOLDS, "seed": SEED,
    }
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    if args.holdout_fold < 0:
        check_c_head(args, X, A, Wc, concepts, ym, Wx, Wy, sv, tm, F, cap_keys)
    print("wrote %s (%d bytes, sha256 %s): %d concepts, projection %dx%d, text %d"
          % (args.out, len(out), summary["sha256"][:16], len(concepts), d, k, tdim))


def check_c_head(args, X, A, Wc, concepts, ym, Wx, Wy, sv, tm, F, cap_keys):
    """The C head (src/vision/concepts.c via build/tools/concept-features)
    must compute what was fitted here, up to the float16 weights."""
    tool = os.path.join(args.tools, "concept-features")
    head_dir = os.path.dirname(os.path.abspath(args.out))
    feats = os.path.join(args.work, TRAIN_SETS[0] + ".f32")
    out = os.path.join(args.work, "check")
    run([tool, "--apply", head_dir, feats, out])
    m = len(np.fromfile(feats, dtype=np.float32)) // FEAT_DIM
    js = [c["j"] for c in concepts]
    s = A[:m] @ Wc[:, js] + ym[js]
    want = sigmoid(np.array([c["platt_a"] for c in concepts]) * s +
                   np.array([c["platt_b"] for c in concepts]))
    got = np.fromfile(out + ".probs.f32", dtype=np.float32).reshape(m, -1)
    pw, pg = nrm((A[:m] @ Wx) * sv), np.fromfile(out + ".proj.f32", dtype=np.float32).reshape(m, -1)
    sdim = F.shape[2] - len(bow_vocabulary(cap_keys)[0])
    q = F.reshape(-1, F.shape[2])
    q[:, :sdim].astype(np.float32).tofile(out + ".sif.f32")
    with open(out + ".keys", "w") as f:
        f.write("".join(" ".join(sorted(ks)) + "\n" for c in cap_keys for ks in c))
    run([tool, "--project", head_dir, out + ".sif.f32", out + ".text", out + ".keys"])
    tw = nrm(((q - tm) @ Wy) * sv)
    tg = np.fromfile(out + ".text.f32", dtype=np.float32).reshape(len(q), -1)
    dp, cp, ct = float(np.abs(got - want).max()), float((pw * pg).sum(1).min()), float((tw * tg).sum(1).min())
    print("check: C head vs numpy on %d photos: max |d prob| %.4f, min cos(image) %.5f, "
          "min cos(text) %.5f" % (m, dp, cp, ct))
    if not (dp < 0.02 and cp > 0.999 and ct > 0.9999):
        sys.exit("train_concepts: the C head disagrees with the fitted one")


if __name__ == "__main__":
    main()
