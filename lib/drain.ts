/**
 * For a graceful close: waits while work is in flight, but not longer than timeoutMs, and not once
 * nothing has settled for idleMs (then the rest of the flow is gone, and whatever is still out will
 * be delivered again after the restart).
 */
export async function drainWhileProgressing(inFlight: () => number, settled: () => number, timeoutMs: number, idleMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = settled();
  let lastProgress = Date.now();
  while (inFlight() > 0 && Date.now() < until && Date.now() - lastProgress < idleMs) {
    await new Promise((r) => setTimeout(r, 20));
    const now = settled();
    if (now !== last) {
      last = now;
      lastProgress = Date.now();
    }
  }
}
