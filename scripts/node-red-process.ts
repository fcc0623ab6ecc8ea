/**
 * Runs Node-RED as users run it (used by npm start and the end-to-end tests) (a child process of node-red's red.js, our settings file, the pack
 * loaded from the repository), on 127.0.0.1 and a free port, so tests can deploy flows over the
 * admin API, read the log, and kill -9 it. With a `runtime` (Node-RED 5 on Node 22 from
 * scripts/node-red-5.ts), that node runs that red.js, and the package is the one installed there.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

// Works from scripts/ (tsx) and from dist/scripts/ (compiled).
const ROOT = fs.existsSync(path.resolve(__dirname, "../package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "../..");

/**
 * The node flags the product runs Node-RED with (npm start, the benchmarks; docs/performance.md says how
 * to set them with NODE_OPTIONS). V8 sizes its heap lazily: with the defaults a 10,000-entry catch-up
 * peaked at about 330 MB of RSS while its live heap was about 44 MB. A 64 MB old space and 2 MB
 * semi-spaces keep the peak under 150 MB for some more CPU (garbage is collected sooner and more often);
 * 100,000 entries and the 10,000-item push drain run under them. The tests run without them.
 */
export const NODE_RED_NODE_FLAGS = ["--max-old-space-size=64", "--max-semi-space-size=2"];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface NodeRedOptions {
  userDir: string;
  /** Fixed port; a free one when omitted. */
  port?: number;
  /** Extra flags for node itself (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Also append Node-RED's output to this file. */
  logFile?: string;
  env?: Record<string, string>;
  /** Flows written to flows.json before the first start. */
  flows?: unknown[];
  /** A module whose exports are added to the settings (adminAuth, say): scripts/node-red-settings.js. */
  extraSettings?: string;
  /**
   * Another Node-RED and the node to run it (ensureNodeRed5 gives both). Default: this repository's
   * node_modules/node-red with the node running this.
   */
  runtime?: { nodeBin: string; redJs: string };
}

/**
 * Another runtime loads the package from its own install, not from the repository: no nodesDir (see
 * scripts/node-red-settings.js). Node-RED looks for node modules in <userDir>/node_modules and in every
 * node_modules above its own @node-red/nodes, so it finds the package that npm installed beside
 * node-red. Its node comes first on PATH, for what Node-RED starts itself (npm of the palette manager).
 */
function runtimeEnv(nodeBin: string, pathVar = process.env.PATH ?? ""): Record<string, string> {
  return { OPENMRS_SYNC_NODES_DIR: "off", PATH: `${path.dirname(nodeBin)}${path.delimiter}${pathVar}` };
}

export class NodeRedProcess {
  private child?: ChildProcess;
  log = "";
  port = 0;
  exits = 0;

  constructor(private readonly opts: NodeRedOptions) {
    this.port = opts.port ?? 0;
    fs.mkdirSync(opts.userDir, { recursive: true });
    if (opts.flows) fs.writeFileSync(path.join(opts.userDir, "flows.json"), JSON.stringify(opts.flows, null, 2));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (!this.port) this.port = await freePort();
    const logStart = this.log.length;
    const runtime = this.opts.runtime;
    this.child = spawn(
      runtime?.nodeBin ?? process.execPath,
      [
        ...(this.opts.nodeArgs ?? []),
        runtime?.redJs ?? path.join(ROOT, "node_modules/node-red/red.js"),
        "-u",
        this.opts.userDir,
        "-s",
        path.join(ROOT, "scripts/node-red-settings.js"),
        "-p",
        String(this.port),
      ],
      {
        // Readiness is read from the log ("Started flows"), so the level stays at info.
        env: {
          ...process.env,
          ...this.opts.env,
          NODE_RED_LOG_LEVEL: "info",
          ...(this.opts.extraSettings ? { NODE_RED_EXTRA_SETTINGS: this.opts.extraSettings } : {}),
          ...(runtime ? runtimeEnv(runtime.nodeBin, this.opts.env?.PATH) : {}),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const logFile = this.opts.logFile ? fs.createWriteStream(this.opts.logFile, { flags: "a" }) : undefined;
    this.child.on("exit", () => logFile?.end());
    const append = (b: Buffer) => {
      logFile?.write(b);
      this.log += b.toString();
      if (this.log.length > 4_000_000) this.log = this.log.slice(-2_000_000);
    };
    this.child.stdout!.on("data", append);
    this.child.stderr!.on("data", append);
    this.child.on("exit", () => this.exits++);
    const until = Date.now() + timeoutMs;
    // Ready when the flows run and the HTTP server listens: red.js starts the runtime first and listens
    // after, so with few flows "Started flows" can come before the port is open.
    const ready = () => {
      const log = this.log.slice(logStart);
      return log.includes("Started flows") && log.includes("Server now running");
    };
    while (!ready()) {
      if (this.child.exitCode !== null) throw new Error(`Node-RED exited during start:\n${this.log.slice(logStart)}`);
      if (Date.now() > until) throw new Error(`Node-RED did not start within ${timeoutMs} ms:\n${this.log.slice(logStart)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (/Waiting for missing types/.test(this.log.slice(logStart))) throw new Error(`Node-RED is missing node types:\n${this.log.slice(logStart)}`);
  }

  /** Deploys flows (full deployment) through the admin API. Credentials may be given per node as `credentials`. */
  async deploy(flows: unknown[]): Promise<void> {
    const mark = this.log.length;
    const res = await fetch(`${this.url}/flows`, {
      method: "POST",
      headers: { "content-type": "application/json", "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
      body: JSON.stringify({ flows }),
    });
    if (res.status !== 200) throw new Error(`deploy failed: HTTP ${res.status} ${await res.text()}`);
    const until = Date.now() + 15_000;
    while (!this.log.slice(mark).includes("Started flows")) {
      if (Date.now() > until) throw new Error(`flows did not start:\n${this.log.slice(mark)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    if (/Waiting for missing types/.test(this.log.slice(mark))) throw new Error(`missing node types:\n${this.log.slice(mark)}`);
  }

  /** kill -9: no close handlers, no flush. */
  async kill9(): Promise<void> {
    await this.signal("SIGKILL");
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(sig);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
}
