import { strict as assert } from "node:assert";
import { classifyStatus, errorSummary, outcomeOfError, parseRetryAfter, PermanentError } from "../../lib/outcome";
import { NetworkError } from "../../lib/http";
import { backoffDelay } from "../../lib/backoff";
import { shouldReport } from "../../lib/settlement";

describe("outcome classification", () => {
  it("classifies HTTP statuses", () => {
    for (const s of [200, 201, 204]) assert.equal(classifyStatus(s).kind, "ok");
    for (const s of [408, 425, 429, 500, 502, 503, 504]) assert.equal(classifyStatus(s).kind, "retry", String(s));
    for (const s of [400, 404, 405, 409, 410, 412, 422]) assert.equal(classifyStatus(s).kind, "permanent", String(s));
    for (const s of [401, 403]) assert.equal(classifyStatus(s).kind, "auth", String(s));
  });
  it("honours Retry-After in seconds and as an HTTP date", () => {
    assert.equal(classifyStatus(429, "7").retryAfterMs, 7000);
    const now = Date.parse("2026-11-28T10:00:00Z");
    assert.equal(parseRetryAfter("Sat, 28 Nov 2026 10:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
  it("classifies errors", () => {
    assert.equal(outcomeOfError(new NetworkError("RESET", "u", "reset")).kind, "retry");
    assert.equal(outcomeOfError(new NetworkError("TIMEOUT", "u", "t")).reason, "timeout");
    assert.equal(outcomeOfError(new NetworkError("TOO_LARGE", "u", "big")).kind, "permanent");
    const p = outcomeOfError(new PermanentError("bad", "invalid-fhir", { resourceType: "OperationOutcome" }));
    assert.equal(p.kind, "permanent");
    assert.deepEqual(p.operationOutcome, { resourceType: "OperationOutcome" });
    assert.equal(outcomeOfError(new Error("boom")).kind, "retry");
  });
  it("backs off exponentially with a cap and jitter; Retry-After wins", () => {
    const policy = { baseMs: 1000, capMs: 60_000, jitter: 0.5 };
    assert.equal(
      backoffDelay(1, policy, undefined, () => 0),
      1000,
    );
    assert.equal(
      backoffDelay(3, policy, undefined, () => 0),
      4000,
    );
    assert.equal(
      backoffDelay(20, policy, undefined, () => 0),
      60_000,
    );
    assert.equal(
      backoffDelay(3, policy, undefined, () => 1),
      2000,
    );
    assert.equal(backoffDelay(3, policy, 12_000), 12_000);
  });
  it("reports a failure once per entry, permanent ones always", () => {
    const t1 = { store: "s", source: "f", entry: "e", key: "k", serial: 1, attempt: 1 };
    const t2 = { ...t1, attempt: 2 };
    assert.equal(shouldReport({ kind: "retry", reason: "x" }, t1), true);
    assert.equal(shouldReport({ kind: "retry", reason: "x" }, t2), false);
    assert.equal(shouldReport({ kind: "permanent", reason: "x" }, t2), true);
    assert.equal(shouldReport({ kind: "auth", reason: "x" }, t1), false, "the feed raises the one auth alert");
    assert.equal(shouldReport({ kind: "auth", reason: "x" }, undefined), true);
    assert.equal(shouldReport({ kind: "retry", reason: "x" }, undefined), true);
    assert.equal(shouldReport({ kind: "retry", reason: "missing-reference" }, t1), false, "waiting for a referenced record is normal");
  });
  it("summarises OperationOutcome and REST errors by their codes, without the server's text", () => {
    assert.equal(errorSummary({ resourceType: "OperationOutcome", issue: [{ code: "not-found", diagnostics: "Patient/x not found" }] }), "not-found");
    assert.equal(errorSummary({ error: { message: "[Invalid Submission]" } }), undefined);
    assert.equal(errorSummary({ error: { code: "a sentence with spaces", message: "x" } }), undefined);
    assert.equal(errorSummary("text"), undefined);
  });
});
