/**
 * The Sync sidebar in a real browser (Debian's Chromium through playwright-core) against a real
 * Node-RED with adminAuth on, the two-way flow (conflicts held for an admin) and two simulators:
 * the admin logs in, opens the Sync tab, sees the counts move while the parent changes, finds the
 * patients the child refused in the dead letters, retries them all and sees them sent, and resolves a
 * held conflict by keeping the parent's version. The page logs no error. On failure a screenshot of
 * every page lands in test-artifacts/.
 *
 * Then every example flow is imported from Import ▸ Examples and deployed with no missing type.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Page } from "playwright-core";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { ensureNodeRed5, type NodeRed5 } from "../../scripts/node-red-5";
import { BrowserSession, editorReady, logIn } from "../helpers/browser";
import { env, shippedFlow, until, useE2E, type FlowNode } from "../helpers/e2e";

const bcrypt = require("bcryptjs") as { hashSync(s: string, rounds: number): string };
const ADMIN = { username: "admin", password: "admin-pass-1" };
const EXAMPLES = ["pull-from-parent", "push-to-parent", "two-way", "outbox"];

type Sidebar = Page;

/** The number on a count tile of a channel card. */
async function count(page: Sidebar, channel: string, key: string): Promise<number> {
  const text = await page.locator(`.openmrs-sync-channel[data-channel="${channel}"] [data-count="${key}"] .openmrs-sync-count-n`).textContent();
  return Number(text);
}

async function waitCount(page: Sidebar, channel: string, key: string, ok: (n: number) => boolean, what: string, ms = 60_000): Promise<number> {
  let n = NaN;
  await until(
    async () => {
      n = await count(page, channel, key).catch(() => NaN);
      return ok(n);
    },
    ms,
    `${what} (last ${n})`,
  );
  return n;
}

/** Clicks the confirmation button of the sidebar's modal question. */
async function confirm(page: Sidebar): Promise<void> {
  await page.click("#openmrs-sync-confirm");
}

/** Both supported runtimes, each through the browser: 4.1 from this repository, 5.0 installed from npm pack. */
const RUNTIMES: { label: string; prepare: () => Promise<NodeRed5 | undefined> }[] = [
  { label: "Node-RED 4.1, Node 20", prepare: () => Promise.resolve(undefined) },
  { label: "Node-RED 5.0, Node 22", prepare: () => ensureNodeRed5() },
];

for (const { label, prepare } of RUNTIMES)
  describe(`Sync sidebar in the browser (${label}, Chromium)`, function () {
    this.timeout(240_000);
    let runtime: NodeRed5 | undefined;
    let dir: string;
    let parent: OpenmrsSim | undefined;
    let child: OpenmrsSim | undefined;
    let nodeRed: NodeRedProcess | undefined;
    const browser = new BrowserSession();

    before(async function () {
      // Node-RED 5: installed once into .cache/node-red-5 (CI prepares it before the tests).
      this.timeout(20 * 60_000);
      runtime = await prepare();
    });

    useE2E(
      "e2e-browser",
      (d) => (dir = d),
      () => ({ nodeRed, sims: [parent, child] }),
      () => (nodeRed = parent = child = undefined),
    );

    afterEach(async function () {
      if (this.currentTest?.state === "failed") console.log(`screenshots: ${(await browser.screenshots(this.currentTest.fullTitle())).join(", ")}`);
      for (const p of browser.pages) if (p.errors.length) console.log(`page errors:\n${p.errors.join("\n")}`);
      await browser.close();
    });

    /**
     * adminAuth on; `theme` picks an editor theme of @node-red-contrib-themes/theme-collection (3.x a dev
     * dependency here for 4.1, 5.x installed beside Node-RED 5).
     */
    function settings(theme?: string): string {
      const file = path.join(dir, "admin-settings.js");
      const users = [{ username: ADMIN.username, password: bcrypt.hashSync(ADMIN.password, 8), permissions: "*" }];
      const editorTheme = { tours: false, palette: { catalogues: [] }, projects: { enabled: false }, ...(theme ? { theme } : {}) };
      fs.writeFileSync(
        file,
        `module.exports = { adminAuth: { type: "credentials", users: ${JSON.stringify(users)} }, editorTheme: ${JSON.stringify(editorTheme)} };\n`,
      );
      return file;
    }

    it("shows live counts, retries dead letters until sent, resolves a held conflict; no page errors", async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 501 });
      child = new OpenmrsSim({ name: "child", seed: 502 });
      parent.generate({ patients: 20, visitsPerPatient: 0 });
      const refused = [...parent.store.patients.values()].slice(0, 2).map((p) => p.uuid);
      child.faults.rejectWrites = refused;
      await parent.start();
      await child.start();
      // Conflicts are held for an admin, and the admin may see both versions (audit content on).
      const flow = shippedFlow("two-way").map((n): FlowNode => {
        if (n.type === "fhir-push") return { ...n, conflict: "hold" };
        if (n.type === "sync-store") return { ...n, auditContent: true };
        return n;
      });
      const db = path.join(dir, "sync.db");
      nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow, env: env(parent, child, db), extraSettings: settings(), runtime });
      await nodeRed.start();
      assert.match(nodeRed.log, runtime ? /Node-RED version: v5\.0\.\d+/ : /Node-RED version: v4\.1\.\d+/, "the runtime under test");

      const { page, errors } = await browser.open(`${nodeRed.url}/`);
      await logIn(page, ADMIN);
      // Before the login the editor's own requests are refused (401) by design: count errors from here.
      errors.length = 0;
      await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show("openmrs-sync"));
      await page.waitForSelector('.openmrs-sync-channel[data-channel="pull_feed_patient"]', { timeout: 30_000 });

      // The refused patients end as dead letters of the pull channel; the tile stands out.
      await waitCount(page, "pull_feed_patient", "dead", (n) => n === 2, "two dead letters on the sidebar");
      assert.ok(await page.locator('.openmrs-sync-channel[data-channel="pull_feed_patient"] [data-count="dead"].openmrs-sync-count-error').count());

      // Counts move without a reload while the parent changes.
      const sentBefore = await count(page, "pull_feed_patient", "sent");
      const tile = await page.waitForSelector('.openmrs-sync-channel[data-channel="pull_feed_patient"] [data-count="sent"]');
      for (let i = 0; i < 5; i++) parent.mutate(1);
      parent.generate({ patients: 5, visitsPerPatient: 0 });
      await waitCount(page, "pull_feed_patient", "sent", (n) => n >= sentBefore + 5, "the sent count to move live");
      // Updated in place: the element under the admin's pointer is not replaced by a redraw.
      assert.ok(await tile.evaluate((e) => e.isConnected), "the tile is the same element after live updates");

      // The dead tile opens the two items; the child accepts again; "Retry all" asks, then retries both.
      await page.click('.openmrs-sync-channel[data-channel="pull_feed_patient"] [data-count="dead"]');
      await page.waitForSelector(".openmrs-sync-item");
      const records = await page.locator(".openmrs-sync-item-record").allTextContents();
      assert.deepEqual(records.map((r) => r.replace(/^Patient\//, "")).sort(), [...refused].sort());
      // One item in full: its error and the stored OperationOutcome (audit content is on).
      await page.locator(".openmrs-sync-item").first().click();
      await page.waitForSelector(".openmrs-sync-facts-table");
      assert.match(await page.locator(".openmrs-sync-view-item").innerText(), /OperationOutcome/);
      await page.waitForSelector(".openmrs-sync-history .openmrs-sync-audit");
      await page.click(".openmrs-sync-back");
      await page.waitForSelector(".openmrs-sync-bulk-retry");
      child.faults.rejectWrites = [];
      await page.click(".openmrs-sync-bulk-retry");
      const question = await page.waitForSelector(".red-ui-notification:has(#openmrs-sync-confirm)");
      assert.match(await question.innerText(), /Retry 2 dead letters/);
      await confirm(page);
      await until(() => refused.every((u) => child!.store.patients.has(u)), 60_000, "the retried patients at the child");
      await page.click(".openmrs-sync-home");
      await waitCount(page, "pull_feed_patient", "dead", (n) => n === 0, "no dead letters left");

      // A patient changed on both sides at once: held; the admin keeps the parent's version.
      const uuid = [...parent.store.patients.values()].map((p) => p.uuid).find((u) => !refused.includes(u))!;
      const rename = (sim: OpenmrsSim, family: string) => {
        const p = sim.store.patients.get(uuid)!;
        sim.store.updatePatient(uuid, { names: p.names.map((n) => ({ ...n, familyName: family })) });
      };
      const family = (sim: OpenmrsSim) =>
        sim.store.patients
          .get(uuid)!
          .names.map((n) => n.familyName)
          .join();
      rename(parent, "ParentSide");
      rename(child, "ChildSide");
      await page.locator(".openmrs-sync-store-held").click({ timeout: 60_000 });
      await page.waitForSelector(".openmrs-sync-item");
      await page.locator(".openmrs-sync-item").first().click();
      await page.waitForSelector(".openmrs-sync-sides");
      assert.match(await page.locator('.openmrs-sync-side[data-side="parent"]').innerText(), /ParentSide/);
      assert.match(await page.locator('.openmrs-sync-side[data-side="child"]').innerText(), /ChildSide/);
      assert.equal(family(child), "ChildSide", "held: nothing overwritten");
      await page.click(".openmrs-sync-keep-parent");
      await confirm(page);
      await until(() => family(child!) === "ParentSide", 30_000, "the parent's version at the child");
      assert.equal(family(parent), "ParentSide");
      await page.click(".openmrs-sync-home");
      await page.waitForSelector(".openmrs-sync-store-held", { state: "hidden", timeout: 30_000 });

      assert.deepEqual(errors, [], "no errors in the page");
    });

    for (const theme of [undefined, "dark"])
      it(`reads well in the ${theme ?? "default light"} theme: card text contrasts with its background`, async () => {
        parent = new OpenmrsSim({ name: "parent", seed: 521 });
        child = new OpenmrsSim({ name: "child", seed: 522 });
        parent.generate({ patients: 5, visitsPerPatient: 0 });
        child.faults.rejectWrites = [[...parent.store.patients.values()][0].uuid];
        await parent.start();
        await child.start();
        const db = path.join(dir, "sync.db");
        nodeRed = new NodeRedProcess({
          userDir: path.join(dir, "nr"),
          flows: shippedFlow("pull-from-parent"),
          env: env(parent, child, db),
          extraSettings: settings(theme),
        });
        await nodeRed.start();
        const { page, errors } = await browser.open(`${nodeRed.url}/`);
        await logIn(page, ADMIN);
        errors.length = 0;
        await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show("openmrs-sync"));
        await waitCount(page, "pull_feed_patient", "dead", (n) => n === 1, "the dead letter");
        const card = '.openmrs-sync-channel[data-channel="pull_feed_patient"]';
        const probes: Record<string, [string, "color" | "backgroundColor"]> = {
          cardText: [`${card} .openmrs-sync-channel-name`, "color"],
          cardBackground: [card, "backgroundColor"],
          tileText: [`${card} [data-count="sent"] .openmrs-sync-count-n`, "color"],
          tileBackground: [`${card} [data-count="sent"]`, "backgroundColor"],
          deadText: [`${card} [data-count="dead"] .openmrs-sync-count-n`, "color"],
          deadBackground: [`${card} [data-count="dead"]`, "backgroundColor"],
        };
        // No named helpers inside: the function runs in the page, without the test's module scope.
        const colours = await page.evaluate(
          (p) => Object.fromEntries(Object.entries(p).map(([k, [sel, prop]]) => [k, getComputedStyle(document.querySelector(sel)!)[prop]])),
          probes,
        );
        const dark = luminance(colours.cardBackground) < 0.2;
        assert.equal(dark, theme === "dark", `background ${colours.cardBackground} is ${dark ? "dark" : "light"}`);
        for (const [text, back] of [
          ["cardText", "cardBackground"],
          ["tileText", "tileBackground"],
          ["deadText", "deadBackground"],
        ] as const) {
          const ratio = contrast(luminance(colours[text]), luminance(colours[back]));
          assert.ok(ratio >= 3, `${text} ${colours[text]} on ${colours[back]}: contrast ${ratio.toFixed(1)} (want >= 3)`);
        }
        await browser.screenshots(`sync-tab-${theme ?? "light"}`);
        assert.deepEqual(errors, [], "no errors in the page");
      });

    it("issues, rotates and revokes a hub key from the Sync tab, shows each secret once and the clinic's reported health", async () => {
      nodeRed = new NodeRedProcess({
        userDir: path.join(dir, "nr"),
        flows: [{ id: "hub_store", type: "sync-store", name: "hub", path: path.join(dir, "hub.db") }],
        extraSettings: settings(),
        runtime,
      });
      await nodeRed.start();
      const { page, errors } = await browser.open(`${nodeRed.url}/`);
      await logIn(page, ADMIN);
      errors.length = 0;
      await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show("openmrs-sync"));
      await page.click(".openmrs-sync-keys-button");
      await page.waitForSelector(".openmrs-sync-key-form");
      await page.fill(".openmrs-sync-key-name", "clinic-a");
      await page.fill(".openmrs-sync-key-locations", "aff27d58-a15c-49a6-9beb-d30dcfc0c66e");
      await page.click(".openmrs-sync-key-issue");
      const secret = await (await page.waitForSelector(".openmrs-sync-key-secret")).inputValue();
      assert.match(secret, /^oms_[0-9a-f]{16}_/);
      const row = '.openmrs-sync-key[data-state="active"]';
      await page.waitForSelector(`${row}[data-health="never"]`);
      const hub = (path: string, init: RequestInit = {}, key = secret) =>
        fetch(`${nodeRed!.url}/openmrs/ws/hub/${path}`, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" } });
      assert.equal((await hub("whoami")).status, 200);

      // The clinic reports a dead letter: after a refresh the row says failing, and why.
      const report = {
        instance: "clinic-a-host",
        version: "0.1.0",
        at: new Date().toISOString(),
        channels: [
          // prettier-ignore
          { name: "queue for parent", kind: "queue", category: null, gate: "open", running: true, lagEntries: null, lagSeconds: null, queued: 0, retrying: 0, dead: 2, held: 0, lastSuccess: null, lastError: "HTTP 422" },
        ],
      };
      assert.equal((await hub("status", { method: "POST", body: JSON.stringify(report) })).status, 204);
      await page.click(".openmrs-sync-refresh");
      await page.waitForSelector(`${row}[data-health="failing"]`);
      assert.match(await page.locator(".openmrs-sync-key-why").innerText(), /queue for parent: 2 dead/);

      // The secret goes once: after "Done" it is nowhere on the page, and the key list never had it.
      await page.click(".openmrs-sync-key-secret-done");
      assert.ok(!(await page.content()).includes(secret), "the secret is gone from the page");

      // Rotate: a new secret, shown once; the old one is refused at once.
      await page.click(".openmrs-sync-key-rotate");
      await confirm(page);
      const rotated = await (await page.waitForSelector(".openmrs-sync-key-secret")).inputValue();
      assert.notEqual(rotated, secret);
      assert.equal((await hub("whoami")).status, 401);
      assert.equal((await hub("whoami", {}, rotated)).status, 200);

      // Revoke: the row says so, the secret is refused.
      await page.click(".openmrs-sync-key-revoke");
      await confirm(page);
      await page.waitForSelector('.openmrs-sync-key[data-state="revoked"]');
      assert.equal((await hub("whoami", {}, rotated)).status, 401);
      assert.deepEqual(errors, [], "no errors in the page");
    });

    it("imports every example from Import ▸ Examples and deploys it with no missing type", async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 511 });
      child = new OpenmrsSim({ name: "child", seed: 512 });
      await parent.start();
      await child.start();
      nodeRed = new NodeRedProcess({
        userDir: path.join(dir, "nr"),
        flows: [],
        env: env(parent, child, path.join(dir, "sync.db")),
        extraSettings: settings(),
        runtime,
      });
      await nodeRed.start();
      const { page, errors } = await browser.open(`${nodeRed.url}/`);
      await logIn(page, ADMIN);
      errors.length = 0;
      for (const name of EXAMPLES) {
        await importExample(page, name);
        const mark = nodeRed.log.length;
        // The button is a link that the editor enables once the import has made the workspace dirty: a
        // click before that does nothing.
        await page.click("#red-ui-header-button-deploy:not(.disabled)");
        await until(() => nodeRed!.log.slice(mark).includes("Started flows"), 30_000, `${name} deployed`);
        assert.doesNotMatch(nodeRed.log.slice(mark), /missing types|Waiting for missing/, `${name}: no missing type`);
        const deployed = JSON.parse(fs.readFileSync(path.join(dir, "nr", "flows.json"), "utf8")) as FlowNode[];
        const expected = shippedFlow(name).filter((n) => n.type === "atom-feed-in").length;
        assert.ok(deployed.filter((n) => n.type === "atom-feed-in").length >= expected, `${name}: its feeds are deployed`);
        // The next one starts on an empty workspace, as a new user's would (the examples share config node ids).
        const token = await page.evaluate(() => (JSON.parse(localStorage.getItem("auth-tokens") ?? "{}") as { access_token?: string }).access_token);
        await clearFlows(nodeRed, token);
        await page.reload();
        await editorReady(page);
      }
      assert.deepEqual(errors, [], "no errors in the page");
    });
  });

async function clearFlows(nodeRed: NodeRedProcess, token: string | undefined): Promise<void> {
  const res = await fetch(`${nodeRed.url}/flows`, {
    method: "POST",
    headers: { "content-type": "application/json", "Node-RED-Deployment-Type": "full", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify([]),
  });
  assert.equal(res.status, 204, `clear flows: ${await res.text()}`);
}

/** Relative luminance of a CSS rgb()/rgba() colour (0 black, 1 white). */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? ["0", "0", "0"]).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two luminances. */
const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);

/** Import ▸ Examples ▸ node-red-contrib-openmrs-sync ▸ name, then Import. */
async function importExample(page: Page, name: string): Promise<void> {
  await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke("core:show-examples-import-dialog"));
  const dialog = page.locator(".red-ui-clipboard-dialog-tab-library:visible").first();
  await dialog.waitFor();
  const flow = dialog.locator(".red-ui-treeList-label", { hasText: new RegExp(`^\\s*${name}\\s*$`) }).first();
  const ok = page.locator("#red-ui-clipboard-dialog-ok");
  // The tree opens the package folder on a click and keeps it open across dialogs; a click that lands
  // while it is still unfolding selects nothing. Click until the flow is selected (Import enabled).
  for (let attempt = 0; attempt < 5 && !(await ok.isEnabled()); attempt++) {
    if (!(await flow.isVisible())) await dialog.locator(".red-ui-treeList-label", { hasText: "node-red-contrib-openmrs-sync" }).first().click();
    await flow.waitFor({ state: "visible", timeout: 5000 }).catch(() => undefined);
    if (await flow.isVisible()) await flow.click();
    await page
      .waitForFunction(() => !document.querySelector<HTMLButtonElement>("#red-ui-clipboard-dialog-ok")?.disabled, undefined, { timeout: 2000 })
      .catch(() => undefined);
  }
  await ok.click();
  await editorReady(page);
}
