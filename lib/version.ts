/** This package's version (from its package.json, found from here in the sources and in dist/). */
import * as fs from "node:fs";
import * as path from "node:path";

let cached: string | undefined;

export function packageVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname, i = 0; i < 4; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "node-red-contrib-openmrs-sync" && pkg.version) return (cached = pkg.version);
    } catch {
      // not here: look one folder up
    }
  }
  return (cached = "unknown");
}
