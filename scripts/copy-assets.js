// Copies what tsc does not emit: editor .html, locales, icons of every node into dist/nodes/<type>/,
// and the prebuilt flows into examples/ (Node-RED serves <package>/examples as Import > Examples).
// flows/ is the single source of truth; examples/ is generated and git-ignored.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");

function copyTree(src, dst, filter) {
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name);
    const d = path.join(dst, ent.name);
    if (ent.isDirectory()) copyTree(s, d, filter);
    else if (filter(ent.name)) {
      fs.mkdirSync(dst, { recursive: true });
      fs.copyFileSync(s, d);
    }
  }
}

copyTree(path.join(root, "nodes"), path.join(root, "dist", "nodes"), (n) => !n.endsWith(".ts"));
fs.rmSync(path.join(root, "examples"), { recursive: true, force: true });
copyTree(path.join(root, "flows"), path.join(root, "examples"), (n) => n.endsWith(".json"));
