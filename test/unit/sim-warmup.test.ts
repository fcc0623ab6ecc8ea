import * as assert from "node:assert/strict";
import { parseArgs } from "../../sim/cli";
import { warmUp } from "../../sim/warmup";

describe("sim warm-up", function () {
  it("serves a small catch-up between throwaway simulators, every request answered as expected", async function () {
    // warmUp throws when any feed read, fhir2 read, REST read, REST create or fhir2 update is refused
    await warmUp({ patients: 4, rounds: 2 });
  });

  it("is off unless --warm-up is given", function () {
    assert.equal(parseArgs([]).warmUp, false);
    assert.equal(parseArgs(["--warm-up", "--role", "child"]).warmUp, true);
  });
});
