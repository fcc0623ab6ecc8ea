/**
 * The editor in a real browser: Debian's Chromium driven by playwright-core (no browser download).
 * Collects what the page logs as an error (console.error, uncaught exceptions, failed requests to our
 * API) so a test can require none, and saves a screenshot of every open page when a test fails
 * (test-artifacts/, kept by CI as artefacts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

const ROOT = path.resolve(__dirname, "../..");
export const ARTIFACTS = path.join(ROOT, "test-artifacts");

/** Chromium from CHROMIUM_PATH, else the first of the usual Debian paths that exists. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`Chromium not found (${candidates.join(", ")}): apt-get install -y chromium, or set CHROMIUM_PATH`);
  return found;
}

export interface EditorPage {
  page: Page;
  /** What the page reported as errors so far. */
  errors: string[];
}

export class BrowserSession {
  private browser?: Browser;
  readonly pages: EditorPage[] = [];

  async open(url: string): Promise<EditorPage> {
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    this.browser ??= await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox", "--disable-gpu"] });
    const page = await this.browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
    page.on("response", (r) => {
      if (r.url().includes("/openmrs-sync/") && r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    await page.goto(url);
    const p = { page, errors };
    this.pages.push(p);
    return p;
  }

  /** Screenshots of every open page, named after the test; returns the files written. */
  async screenshots(name: string): Promise<string[]> {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const files: string[] = [];
    const base = name.replace(/[^\w.-]+/g, "_").slice(0, 120);
    for (const [i, p] of this.pages.entries()) {
      const file = path.join(ARTIFACTS, `${base}-${i}.png`);
      await p.page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      files.push(file);
    }
    return files;
  }

  async close(): Promise<void> {
    await this.browser?.close();
    this.browser = undefined;
    this.pages.length = 0;
  }
}

/** Logs in through the editor's own login dialog (adminAuth on) and waits for the editor to load. */
export async function logIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.waitForSelector("#node-dialog-login-username", { timeout: 30_000 });
  await page.fill("#node-dialog-login-username", user.username);
  await page.fill("#node-dialog-login-password", user.password);
  await page.click("#node-dialog-login-submit");
  await editorReady(page);
}

export async function editorReady(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const red = (window as unknown as { RED?: { sidebar?: unknown; nodes?: { version(): unknown } } }).RED;
      return !!red?.sidebar && !!document.querySelector("#red-ui-workspace") && !!red.nodes?.version();
    },
    undefined,
    { timeout: 60_000 },
  );
}
