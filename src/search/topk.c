/* topk.c -- see topk.h. A binary min-heap in the caller's array. */
#include "search/topk.h"

static void swap(topk_hit *a, topk_hit *b) {
    topk_hit t = *a;
    *a = *b;
    *b = t;
}

static void sift_down(topk_hit *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && topk_weaker(&h[l], &h[m])) m = l;
        if (r < n && topk_weaker(&h[r], &h[m])) m = r;
        if (m == i) return;
        swap(&h[i], &h[m]);
        i = m;
    }
}

static void sift_up(topk_hit *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!topk_weaker(&h[i], &h[p])) return;
        swap(&h[i], &h[p]);
        i = p;
    }
}

void topk_offer(topk_hit *h, int *n, int k, topk_hit x) {
    if (*n < k) {
        h[*n] = x;
        sift_up(h, (*n)++);
    } else if (k > 0 && topk_weaker(&h[0], &x)) {
        h[0] = x;
        sift_down(h, *n, 0);
    }
}

void topk_sort(topk_hit *h, int n) {
    for (int m = n; m > 1; m--) {
        swap(&h[0], &h[m - 1]);
        sift_down(h, m - 1, 0);
    }
}
