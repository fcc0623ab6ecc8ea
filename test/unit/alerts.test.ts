/**
 * Channel alerts (lib/engine/alerts.ts) on a manual clock: each state change is said once, nothing is said
 * while nothing changes, dead letters are summarised, timers end with stop(). No sleeps.
 */
import { strict as assert } from "node:assert";
import { ManualClock } from "../../lib/engine/clock";
import { ChannelAlerts, feedBacklog, formatDuration, queueBacklog, settledCount, type Alert } from "../../lib/engine/alerts";

const MIN = 60_000;

describe("channel alerts", () => {
  let clock: ManualClock;
  let got: Alert[];
  let a: ChannelAlerts;
  /** The channel's figures: backlog and settled so far. */
  let backlog: number;
  let settled: number;
  const observe = (b = backlog, s = settled) => {
    backlog = b;
    settled = s;
    a.observe({ backlog, settled });
  };
  const kinds = () => got.map((x) => (x.kind === "resumed" ? `resumed(${x.severity})` : x.kind));

  beforeEach(() => {
    clock = new ManualClock();
    got = [];
    backlog = 0;
    settled = 0;
    a = new ChannelAlerts({ channel: "q1", clock, emit: (x) => got.push(x) });
  });
  afterEach(() => a.stop());

  it("says nothing while idle, however often it is told so (a poll with nothing new is not an alert)", () => {
    for (let i = 0; i < 100; i++) {
      observe(0, settled);
      clock.advance(30_000);
    }
    // Busy but healthy: items come and go, the backlog never stays up.
    for (let i = 0; i < 100; i++) {
      observe(5, settled);
      clock.advance(1_000);
      observe(0, settled + 5);
    }
    assert.equal(got.length, 0);
    assert.equal(clock.pending, 0, "no timer left behind");
  });

  it("a backlog at the high-water mark a window later is backing up, once; back to 0 is drained, once", () => {
    observe(150, 0);
    clock.advance(MIN - 1);
    assert.equal(got.length, 0, "not yet: a burst may still drain");
    // Progress does not excuse a backlog that stays up.
    observe(180, 40);
    clock.advance(1);
    assert.deepEqual(kinds(), ["backing-up"]);
    assert.equal(got[0].rule, "high-water");
    assert.equal(got[0].backlog, 180);
    assert.equal(got[0].highWater, 100);
    assert.equal(got[0].severity, "alarm");
    assert.equal(got[0].channel, "q1");
    assert.equal(got[0].at, new Date(clock.wallNow()).toISOString());
    // Growing, shrinking, a window and an hour later: still the same state.
    for (let i = 0; i < 60; i++) {
      observe(100 + ((i * 37) % 400), settled + 10);
      clock.advance(MIN);
    }
    assert.deepEqual(kinds(), ["backing-up"]);
    observe(3, settled + 10);
    assert.deepEqual(kinds(), ["backing-up"], "drained means empty");
    clock.advance(5_000);
    observe(0, settled + 3);
    assert.deepEqual(kinds(), ["backing-up", "drained"]);
    assert.equal(got[1].severity, "clear");
    assert.equal(got[1].durationMs, 60 * MIN + 5_000);
    observe(0, settled);
    clock.advance(10 * MIN);
    assert.equal(got.length, 2);
    assert.equal(clock.pending, 0);
  });

  it("a burst over the mark that is below it a window later is not an alert (every catch-up has one)", () => {
    observe(500, 0);
    clock.advance(30_000);
    observe(60, 440);
    clock.advance(30_000);
    assert.equal(got.length, 0);
    // Reaching the mark again starts a new window.
    observe(120, 440);
    clock.advance(MIN - 1);
    assert.equal(got.length, 0);
    observe(0, 560);
    clock.advance(MIN);
    assert.equal(got.length, 0);
    assert.equal(clock.pending, 0);
  });

  it("waiting for the target: a warning once; backing up after a window without progress; drained and resumed when it answers", () => {
    observe(12, 0);
    a.gateChanged("target-down", "ECONNREFUSED");
    assert.deepEqual(kinds(), ["target-down"]);
    assert.equal(got[0].severity, "warning");
    assert.equal(got[0].reason, "ECONNREFUSED");
    // Probes keep failing, more work comes in; the gate reports nothing new.
    clock.advance(MIN - 1);
    observe(14, 0);
    assert.deepEqual(kinds(), ["target-down"]);
    clock.advance(1);
    assert.deepEqual(kinds(), ["target-down", "backing-up"]);
    assert.equal(got[1].rule, "stalled");
    assert.equal(got[1].reason, "ECONNREFUSED");
    assert.equal(got[1].backlog, 14);
    clock.advance(30 * MIN);
    assert.equal(got.length, 2, "a closed gate that stays closed is silent");
    a.gateChanged("open");
    assert.deepEqual(kinds(), ["target-down", "backing-up", "resumed(info)"]);
    assert.deepEqual(got[2].after, ["target-down"]);
    assert.equal(got[2].durationMs, 31 * MIN);
    observe(6, 8);
    observe(0, 14);
    assert.deepEqual(kinds(), ["target-down", "backing-up", "resumed(info)", "drained"]);
    assert.equal(clock.pending, 0);
  });

  it("a target that is down for less than a window, or while items still settle, is not backing up", () => {
    observe(5, 0);
    a.gateChanged("target-down", "HTTP 503");
    clock.advance(40_000);
    a.gateChanged("open");
    observe(0, 5);
    // Down again, but what was out before still settles now and then.
    observe(8, 5);
    a.gateChanged("target-down", "timeout");
    for (let i = 0; i < 5; i++) {
      clock.advance(45_000);
      observe(8 - i, 6 + i);
    }
    assert.deepEqual(kinds(), ["target-down", "resumed(info)", "target-down"]);
    // Then nothing settles for a window: now it is.
    clock.advance(MIN);
    assert.deepEqual(kinds(), ["target-down", "resumed(info)", "target-down", "backing-up"]);
  });

  it("paused and store-fault: each once per episode, however the gate moves between closed states; resumed clears them", () => {
    observe(3, 0);
    a.gateChanged("paused", "HTTP 401: not authorised");
    a.gateChanged("target-down", "ECONNRESET");
    a.gateChanged("paused", "HTTP 401: not authorised");
    a.gateChanged("store-fault", "SQLITE_FULL");
    a.gateChanged("paused", "HTTP 403: not authorised");
    assert.deepEqual(kinds(), ["paused", "target-down", "store-fault"]);
    assert.deepEqual(
      got.map((x) => x.severity),
      ["alarm", "warning", "alarm"],
    );
    clock.advance(90_000);
    a.gateChanged("open");
    assert.deepEqual(kinds(), ["paused", "target-down", "store-fault", "resumed(clear)"]);
    assert.deepEqual(got[3].after, ["paused", "target-down", "store-fault"]);
    assert.equal(got[3].durationMs, 90_000);
    // A new episode is said again.
    a.gateChanged("paused", "HTTP 401: not authorised");
    a.gateChanged("open");
    assert.deepEqual(kinds().slice(4), ["paused", "resumed(clear)"]);
    // Opening an open gate says nothing.
    a.gateChanged("open");
    assert.equal(got.length, 6);
  });

  it("dead letters: the first at once, the rest as one summary per window, never one per item", () => {
    a.deadLettered({ record: "Patient/a", attempts: 1, reason: "HTTP 422", deadLetter: 7 });
    assert.deepEqual(kinds(), ["dead-letter"]);
    assert.deepEqual(
      {
        count: got[0].count,
        records: got[0].records,
        attempts: got[0].attempts,
        reason: got[0].reason,
        deadLetter: got[0].deadLetter,
        summary: got[0].summary,
      },
      { count: 1, records: ["Patient/a"], attempts: 1, reason: "HTTP 422", deadLetter: 7, summary: undefined },
    );
    for (let i = 0; i < 7; i++) {
      clock.advance(1_000);
      a.deadLettered({ record: `Patient/${i % 3}`, attempts: 50, reason: "HTTP 500" });
    }
    assert.equal(got.length, 1, "the burst is not said item by item");
    clock.advance(MIN - 7_000);
    assert.deepEqual(kinds(), ["dead-letter", "dead-letter"]);
    assert.equal(got[1].count, 7);
    assert.equal(got[1].summary, true);
    assert.equal(got[1].windowMs, MIN);
    assert.deepEqual(got[1].records, ["Patient/0", "Patient/1", "Patient/2"]);
    // They keep coming: one summary per window.
    for (let i = 0; i < 30; i++) {
      clock.advance(4_000);
      a.deadLettered({ record: `Patient/x${i}`, attempts: 2 });
    }
    clock.advance(MIN);
    const summaries = got.slice(2);
    assert.ok(summaries.length >= 2 && summaries.length <= 3, `${summaries.length} summaries for 30 dead letters over two minutes`);
    assert.equal(
      summaries.reduce((n, x) => n + x.count!, 0),
      30,
      "every dead letter counted once",
    );
    assert.ok(summaries.every((x) => x.records!.length <= 10));
    // A quiet window ends the episode: no empty summary, no timer; the next one is said at once.
    const before = got.length;
    clock.advance(5 * MIN);
    assert.equal(got.length, before);
    assert.equal(clock.pending, 0);
    a.deadLettered({ record: "Patient/b", attempts: 1 });
    assert.equal(got.length, before + 1);
    assert.equal(got.at(-1)!.count, 1);
  });

  it("stop() cancels every timer and nothing is said after it", () => {
    observe(200, 0);
    a.gateChanged("target-down", "ECONNREFUSED");
    a.deadLettered({ record: "Patient/a", attempts: 1 });
    a.deadLettered({ record: "Patient/b", attempts: 1 });
    assert.ok(clock.pending > 0);
    const before = got.length;
    a.stop();
    assert.equal(clock.pending, 0);
    clock.advance(10 * MIN);
    observe(0, 200);
    a.gateChanged("open");
    a.deadLettered({ record: "Patient/c", attempts: 1 });
    assert.equal(got.length, before);
  });

  it("on the system clock, its timers never keep the process alive", () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const base = timers();
    const real = new ChannelAlerts({ channel: "q2", emit: () => undefined });
    try {
      real.observe({ backlog: 500, settled: 0 });
      real.gateChanged("target-down", "ECONNREFUSED");
      real.deadLettered({ record: "Patient/a", attempts: 1 });
      assert.equal(timers(), base, "armed, but unref'd");
    } finally {
      real.stop();
    }
  });

  it("backlog and progress figures from a channel's stats", () => {
    assert.equal(queueBacklog({ queued: 42 }), 42);
    assert.equal(feedBacklog({ ready: 3, inFlight: 2, settling: 1, waiting: 4 }), 10);
    assert.equal(settledCount({ ok: 5, filtered: 2, held: 1, dead: 1 }), 9);
    assert.equal(formatDuration(45_000), "45 s");
    assert.equal(formatDuration(12 * MIN), "12 min");
    assert.equal(formatDuration(185 * MIN), "3 h 5 min");
    assert.equal(formatDuration(120 * MIN), "2 h");
  });

  it("its own thresholds", () => {
    a.stop();
    a = new ChannelAlerts({ channel: "f1", clock, highWater: 5, windowMs: 2_000, emit: (x) => got.push(x) });
    observe(5, 0);
    clock.advance(2_000);
    assert.deepEqual(kinds(), ["backing-up"]);
    assert.equal(got[0].highWater, 5);
    assert.equal(got[0].windowMs, 2_000);
  });
});
