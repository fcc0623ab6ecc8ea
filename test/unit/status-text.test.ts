/** Status lines say counts the same way on every node: the first always, the rest only when not zero. */
import { strict as assert } from "node:assert";
import { countsText } from "../../nodes/shared/status";

const words: Record<string, string> = { sent: "__n__ sent", inFlight: "__n__ in flight", dead: "__n__ dead" };
const RED = { _: (key: string, args?: Record<string, string | number>) => words[key.split(".").pop()!].replace("__n__", String(args?.n)) };

describe("status counts (nodes/shared/status countsText)", () => {
  it("joins the non-zero counts with the first one always shown", () => {
    assert.equal(
      countsText(RED as never, "x", [
        ["sent", 0],
        ["inFlight", 0],
        ["dead", 0],
      ]),
      "0 sent",
    );
    assert.equal(
      countsText(RED as never, "x", [
        ["sent", 12],
        ["inFlight", 3],
        ["dead", 1],
      ]),
      "12 sent · 3 in flight · 1 dead",
    );
  });
});
