#!/usr/bin/python3
"""compare.py -- how far two search_bench rankings differ (SEARCH_BENCH_DUMP files).

  bench/search.d/compare.py BASE.txt NEW.txt

For each query: overlap of the top 10 and top 20 (as sets), whether the top
10 is identical in order, and the mean score of the returned top 10 (a new
ranking that swaps in results of equal or higher fused score is no worse).
Prints the means and the queries that differ most."""
import sys


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            out[int(parts[0])] = [(int(r), float(s)) for r, s in (p.split(":") for p in parts[1:])]
    return out


def main():
    base, new = load(sys.argv[1]), load(sys.argv[2])
    qs = sorted(set(base) & set(new))
    ov10 = ov20 = same10 = 0.0
    sb = sn = 0.0
    worst = []
    for q in qs:
        b, n = base[q], new[q]
        b10, n10 = {r for r, _ in b[:10]}, {r for r, _ in n[:10]}
        b20, n20 = {r for r, _ in b[:20]}, {r for r, _ in n[:20]}
        o10 = len(b10 & n10) / max(len(b10), 1) if b10 else (1.0 if not n10 else 0.0)
        o20 = len(b20 & n20) / max(len(b20), 1) if b20 else (1.0 if not n20 else 0.0)
        ov10 += o10
        ov20 += o20
        same10 += [r for r, _ in b[:10]] == [r for r, _ in n[:10]]
        sb += sum(s for _, s in b[:10]) / max(len(b[:10]), 1)
        sn += sum(s for _, s in n[:10]) / max(len(n[:10]), 1)
        worst.append((o10, q, len(b), len(n)))
    k = len(qs) or 1
    worst.sort()
    for o, q, lb, ln in worst[:8]:
        print("  query %4d: top-10 overlap %.2f (results %d -> %d)" % (q, o, lb, ln))
    print("compare: queries=%d overlap10=%.4f overlap20=%.4f identical10=%.4f mean_top10_score %.4f -> %.4f"
          % (len(qs), ov10 / k, ov20 / k, same10 / k, sb / k, sn / k))


if __name__ == "__main__":
    main()
