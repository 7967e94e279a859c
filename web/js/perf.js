// perf.js -- the timings the issue sets goals for, measured in the page
// itself: how long after the API answers a page of results is on screen.
// Each measure is a User Timing entry (performance.measure, visible in the
// browser's profiler) and is kept in window.__scry.renders, where the
// browser test and bench/web read it.

const store = (window.__scry = window.__scry || { renders: [] });

// Call when the API's JSON is parsed; returns done(n), to call once the
// results are in the DOM (a layout effect: the commit): it notes the commit
// time, then waits for the next frame to be produced (the paint).
export function resultsArrived(kind, apiMs) {
  const t0 = performance.now();
  return (n) => {
    const commit = performance.now() - t0;
    requestAnimationFrame(() => {
      setTimeout(() => {
        const t1 = performance.now();
        try { performance.measure(`scry:${kind}-render`, { start: t0, end: t1 }); } catch { /* old browser */ }
        store.renders.push({ kind, n, api_ms: apiMs, commit_ms: commit, render_ms: t1 - t0, at: t1 });
      }, 0);
    });
  };
}
