/**
 * npm start: a simulated parent OpenMRS with a few hundred patients (visits, encounters,
 * observations) that keeps changing, an empty simulated child whose clinicians also work, and
 * Node-RED on 127.0.0.1:1880 with the "two-way" flow deployed (pull from the parent, push to the
 * parent through the durable queue, on one store). Prints progress until Ctrl-C; a second start
 * reuses the data in .demo/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { counts, startScenario } from "./scenario";

const ROOT = fs.existsSync(path.resolve(__dirname, "../package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "../..");
const DATA = path.resolve(process.env.DEMO_DIR ?? path.join(ROOT, ".demo"));

async function main(): Promise<void> {
  const s = await startScenario({
    dir: DATA,
    parentPort: Number(process.env.DEMO_PARENT_PORT) || 18081,
    childPort: Number(process.env.DEMO_CHILD_PORT) || 18080,
    nodeRedPort: Number(process.env.PORT) || 1880,
    pollSeconds: process.env.SYNC_POLL_SECONDS,
  });
  const { parent, child, nodeRed } = s;

  console.log("");
  console.log(`  parent OpenMRS (simulated): ${parent.url}   ${s.fresh ? "generated" : "reused"}: ${counts(parent)}`);
  console.log(`  child OpenMRS (simulated):  ${child.url}`);
  console.log(`  Node-RED editor:            ${nodeRed.url}/`);
  console.log(`  data:                       ${DATA}  (delete it to start over; Node-RED's log is node-red.log there)`);
  console.log("  Ctrl-C stops everything.");
  console.log("");

  const progress = setInterval(() => {
    // The comparison covers both directions: records missing or different on either side.
    const diff = parent.diff(child).length;
    const state = diff === 0 ? "in sync" : `${diff} difference${diff === 1 ? "" : "s"} left`;
    console.log(`  ${new Date().toISOString().slice(11, 19)}  parent ${counts(parent)} | child ${counts(child)}  (${state})`);
  }, 5000);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(progress);
    console.log("\n  stopping…");
    await s.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
