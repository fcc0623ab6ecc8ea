/**
 * What ships: every node set in package.json has its runtime file, editor template, message catalog
 * and help; the prebuilt flows use only our types and core types, and carry no credentials.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  name: string;
  keywords: string[];
  files: string[];
  engines: { node: string };
  "node-red": { version: string; nodes: Record<string, string>; plugins: Record<string, string> };
};
const CORE_TYPES = new Set([
  "tab",
  "comment",
  "inject",
  "debug",
  "catch",
  "status",
  "complete",
  "link in",
  "link out",
  "change",
  "switch",
  "function",
  "group",
  "junction",
]);

describe("package", () => {
  it("is a Node-RED package for 4.1 and later", () => {
    assert.ok(pkg.name.startsWith("node-red-contrib-"));
    assert.ok(pkg.keywords.includes("node-red"));
    assert.equal(pkg["node-red"].version, ">=4.1.0");
    assert.ok(pkg.files.includes("examples"));
  });

  for (const [type, file] of Object.entries(pkg["node-red"].nodes)) {
    it(`ships ${type}: runtime, editor, catalog, help`, () => {
      const js = path.join(ROOT, file);
      assert.ok(fs.existsSync(js), `${file} is built`);
      const mod = require(js) as unknown;
      assert.equal(typeof mod, "function", "export = function (RED)");
      const html = fs.readFileSync(js.replace(/\.js$/, ".html"), "utf8");
      assert.match(html, new RegExp(`data-template-name="${type}"`));
      assert.match(html, new RegExp(`registerType\\("${type}"`));
      const dir = path.dirname(js);
      const catalog = JSON.parse(fs.readFileSync(path.join(dir, "locales/en-US", `${type}.json`), "utf8")) as Record<string, unknown>;
      assert.ok(catalog[type], "catalog is namespaced by type");
      const help = fs.readFileSync(path.join(dir, "locales/en-US", `${type}.html`), "utf8");
      assert.match(help, new RegExp(`data-help-name="${type}"`));
      // Every i18n key the editor template uses exists in the catalog.
      for (const m of html.matchAll(/data-i18n="(?:\[[a-z]+\])?([a-z-]+\.[\w.-]+)"/g)) {
        const key = m[1];
        if (key.startsWith("node-red:")) continue;
        const value = key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), catalog);
        assert.equal(typeof value, "string", `${type}: missing i18n key ${key}`);
      }
    });
  }

  for (const [id, file] of Object.entries(pkg["node-red"].plugins)) {
    it(`ships the ${id} plugin: runtime, editor, its script, catalog with every key the script uses`, () => {
      const js = path.join(ROOT, file);
      assert.equal(typeof require(js), "function", "export = function (RED)");
      const html = fs.readFileSync(js.replace(/\.js$/, ".html"), "utf8");
      const src = /<script[^>]+src="resources\/([^/]+)\/([^"]+)"/.exec(html);
      assert.ok(src, "loads its script from the package's resources");
      assert.equal(src[1], pkg.name);
      assert.ok(pkg.files.includes("resources"), "resources/ is published");
      const script = fs.readFileSync(path.join(ROOT, "resources", src[2]), "utf8");
      assert.match(script, new RegExp(`registerPlugin\\(PLUGIN|registerPlugin\\("${id}"`));
      assert.match(script, new RegExp(`"${id}"`));
      const catalog = JSON.parse(fs.readFileSync(path.join(path.dirname(js), "locales/en-US", path.basename(js).replace(/\.js$/, ".json")), "utf8")) as {
        sidebar: Record<string, unknown>;
      };
      // Every literal key t("...") asks for exists (keys built at run time are "gate.", "count.", "status." ... prefixes).
      const keys = [...script.matchAll(/\bt\("([\w.-]+)"/g)].map((m) => m[1]);
      assert.ok(keys.length > 20);
      for (const key of keys) {
        if (/[.-]$/.test(key)) continue;
        const value = key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), catalog.sidebar);
        assert.equal(typeof value, "string", `missing i18n key sidebar.${key}`);
      }
      for (const group of ["gate", "count", "status", "bulk", "item", "field", "side", "keep"])
        assert.equal(typeof catalog.sidebar[group], "object", `sidebar.${group}`);
    });
  }

  const flows = fs.readdirSync(path.join(ROOT, "flows")).filter((f) => f.endsWith(".json"));
  for (const f of flows) {
    it(`flow ${f} uses known types, no credentials, and is served as an example`, () => {
      const nodes = JSON.parse(fs.readFileSync(path.join(ROOT, "flows", f), "utf8")) as Record<string, unknown>[];
      const ours = new Set(Object.keys(pkg["node-red"].nodes));
      for (const n of nodes) {
        assert.ok(ours.has(n.type as string) || CORE_TYPES.has(n.type as string), `${f}: unknown type ${String(n.type)}`);
        assert.equal(n.credentials, undefined, `${f}: ${String(n.id)} carries credentials`);
        for (const [k, v] of Object.entries(n)) assert.ok(!/password|token|secret/i.test(k) || v === "", `${f}: ${String(n.id)}.${k}`);
      }
      assert.deepEqual(
        fs.readFileSync(path.join(ROOT, "examples", f), "utf8"),
        fs.readFileSync(path.join(ROOT, "flows", f), "utf8"),
        "examples/ is built from flows/",
      );
    });
  }
});
