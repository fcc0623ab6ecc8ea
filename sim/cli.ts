#!/usr/bin/env node
/**
 * Runs one simulated OpenMRS server.
 *   node dist/sim/cli.js --role parent --port 8081 --data parent.json --patients 200 --changes-per-minute 30
 */
import { OpenmrsSim } from "./server";
import type { Dialect } from "./model";
import { warmUp } from "./warmup";

interface CliOptions {
  role: string;
  port: number;
  host: string;
  data?: string;
  patients: number;
  changesPerMinute: number;
  dialect: Dialect;
  fhir2: boolean;
  feedAuth: boolean;
  user?: string;
  password?: string;
  seed?: number;
  contextPath?: string;
  warmUp: boolean;
}

const USAGE = `usage: openmrs-sim [--role parent|child] [--port N] [--host H] [--data file.json] [--patients N]
       [--changes-per-minute N] [--dialect sync2|bahmni|mixed] [--no-fhir2] [--feed-auth]
       [--user U] [--password P] [--seed N] [--context-path /openmrs] [--warm-up]`;

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = {
    role: "sim",
    port: 0,
    host: "127.0.0.1",
    patients: 0,
    changesPerMinute: 0,
    dialect: "sync2",
    fhir2: true,
    feedAuth: false,
    warmUp: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) fail(`${flag}: not a non-negative integer: ${v}`);
      return n;
    };
    switch (flag) {
      case "--role":
        o.role = value();
        break;
      case "--port":
        o.port = int();
        break;
      case "--host":
        o.host = value();
        break;
      case "--data":
        o.data = value();
        break;
      case "--patients":
        o.patients = int();
        break;
      case "--changes-per-minute":
        o.changesPerMinute = int();
        break;
      case "--dialect": {
        const d = value();
        if (d !== "sync2" && d !== "bahmni" && d !== "mixed") fail(`--dialect: unknown dialect ${d}`);
        o.dialect = d;
        break;
      }
      case "--no-fhir2":
        o.fhir2 = false;
        break;
      case "--feed-auth":
        o.feedAuth = true;
        break;
      case "--user":
        o.user = value();
        break;
      case "--password":
        o.password = value();
        break;
      case "--seed":
        o.seed = int();
        break;
      case "--context-path":
        o.contextPath = value();
        break;
      case "--warm-up":
        o.warmUp = true;
        break;
      case "-h":
      case "--help":
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${a}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  // Before anything of the real simulator exists: its store, log and random streams stay untouched.
  if (o.warmUp) await warmUp();
  const sim = new OpenmrsSim({
    name: o.role,
    dataFile: o.data,
    dialect: o.dialect,
    fhir2: o.fhir2,
    feedAuth: o.feedAuth,
    username: o.user,
    password: o.password,
    seed: o.seed,
    contextPath: o.contextPath,
  });
  if (o.patients > 0 && sim.store.recordCount() === 0) sim.generate({ patients: o.patients });
  const url = await sim.start(o.port, o.host);
  if (o.changesPerMinute > 0) {
    // at most 10 ticks per second; several changes per tick above that
    const perTick = Math.max(1, Math.ceil(o.changesPerMinute / 600));
    sim.startChanges((60_000 * perTick) / o.changesPerMinute, perTick);
  }
  process.stdout.write(`openmrs-sim ${o.role} listening on ${url}\n`);
  // keep the process alive (the sim's timers are unref'd)
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    sim
      .stop()
      .then(() => {
        clearInterval(keepAlive);
        process.exit(0);
      })
      .catch((err: unknown) => {
        process.stderr.write(`openmrs-sim: error while stopping: ${String(err)}\n`);
        process.exit(1);
      });
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`openmrs-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
