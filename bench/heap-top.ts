/**
 * Summarises a V8 .heapsnapshot (node --heapsnapshot-signal, bench/catchup.ts --snapshots): where the
 * heap goes. Prints the total, the constructors (and node types) with the most self size and with the
 * most retained size (an object's retained size counted once per class: not again for a same-class
 * object it dominates), the biggest single retainers, and strings: by kind, the largest ones, and what
 * sliced strings keep alive (a slice of a big string keeps all of it).
 *
 *   node --max-old-space-size=4096 -r tsx/cjs bench/heap-top.ts FILE.heapsnapshot [--top 25] [--paths 8]
 * `--paths N`: for the N biggest retainers, the chain of dominators above them with the edge names, to
 * tell whose they are.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { numberArg } from "./args";

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const TOP = numberArg("top", 25);
const PATHS = numberArg("paths", 0);

const mb = (n: number) => (n / 2 ** 20).toFixed(1).padStart(7);

/** Immediate dominators from node 0 (the root), Lengauer–Tarjan (simple version) on typed arrays. */
function dominators(n: number, firstEdge: Uint32Array, targets: Uint32Array, skip: Uint8Array): Int32Array {
  // Predecessor lists.
  const predCount = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e++) if (!skip[e]) predCount[targets[e] + 1]++;
  for (let v = 0; v < n; v++) predCount[v + 1] += predCount[v];
  const preds = new Uint32Array(predCount[n]);
  const fill = predCount.slice(0, n);
  for (let v = 0; v < n; v++) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e++) if (!skip[e]) preds[fill[targets[e]]++] = v;
  // DFS numbering (iterative).
  const semi = new Int32Array(n).fill(-1);
  const vertex = new Int32Array(n);
  const parent = new Int32Array(n).fill(-1);
  let count = 0;
  const stack = new Int32Array(n + 1);
  const edgeAt = new Uint32Array(n);
  let sp = 0;
  stack[sp++] = 0;
  semi[0] = count;
  vertex[count++] = 0;
  edgeAt[0] = firstEdge[0];
  while (sp) {
    const v = stack[sp - 1];
    let pushed = false;
    while (edgeAt[v] < firstEdge[v + 1]) {
      const e = edgeAt[v]++;
      if (skip[e]) continue;
      const w = targets[e];
      if (semi[w] === -1) {
        parent[w] = v;
        semi[w] = count;
        vertex[count++] = w;
        edgeAt[w] = firstEdge[w];
        stack[sp++] = w;
        pushed = true;
        break;
      }
    }
    if (!pushed && stack[sp - 1] === v) sp--;
  }
  const ancestor = new Int32Array(n).fill(-1);
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) label[i] = i;
  const idom = new Int32Array(n).fill(-1);
  const bucketHead = new Int32Array(n).fill(-1);
  const bucketNext = new Int32Array(n).fill(-1);
  const path = new Int32Array(n);
  const compress = (v: number) => {
    let len = 0;
    let u = v;
    while (ancestor[ancestor[u]] !== -1) {
      path[len++] = u;
      u = ancestor[u];
    }
    for (let i = len - 1; i >= 0; i--) {
      const x = path[i];
      const a = ancestor[x];
      if (semi[label[a]] < semi[label[x]]) label[x] = label[a];
      ancestor[x] = ancestor[a];
    }
  };
  const evalNode = (v: number) => {
    if (ancestor[v] === -1) return v;
    compress(v);
    return label[v];
  };
  for (let i = count - 1; i > 0; i--) {
    const w = vertex[i];
    for (let k = predCount[w]; k < predCount[w + 1]; k++) {
      const v = preds[k];
      if (semi[v] === -1) continue; // unreachable predecessor
      const u = evalNode(v);
      if (semi[u] < semi[w]) semi[w] = semi[u];
    }
    const s = vertex[semi[w]];
    bucketNext[w] = bucketHead[s];
    bucketHead[s] = w;
    ancestor[w] = parent[w];
    const p = parent[w];
    for (let v = bucketHead[p]; v !== -1; v = bucketNext[v]) {
      const u = evalNode(v);
      idom[v] = semi[u] < semi[v] ? u : p;
    }
    bucketHead[p] = -1;
  }
  for (let i = 1; i < count; i++) {
    const w = vertex[i];
    if (idom[w] !== vertex[semi[w]]) idom[w] = idom[idom[w]];
  }
  idom[0] = 0;
  return idom;
}

function summarise(file: string): void {
  const snap = JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [nType, nName, nSelf, nEdges] = ["type", "name", "self_size", "edge_count"].map((f) => meta.node_fields.indexOf(f));
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((f) => meta.edge_fields.indexOf(f));
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const n = nodes.length / nf;
  const firstEdge = new Uint32Array(n + 1);
  for (let v = 0, e = 0; v < n; v++) {
    firstEdge[v] = e;
    e += nodes[v * nf + nEdges];
    firstEdge[v + 1] = e;
  }
  const m = edges.length / ef;
  const targets = new Uint32Array(m);
  const skip = new Uint8Array(m);
  const weak = edgeTypes.indexOf("weak");
  const shortcut = edgeTypes.indexOf("shortcut");
  for (let e = 0; e < m; e++) {
    targets[e] = edges[e * ef + eTo] / nf;
    const t = edges[e * ef + eType];
    if (t === weak || t === shortcut) skip[e] = 1;
  }
  const type = (v: number) => nodeTypes[nodes[v * nf + nType]];
  const self = (v: number) => nodes[v * nf + nSelf];
  const name = (v: number) => strings[nodes[v * nf + nName]];
  /** The class a node is counted under: its constructor for objects, its node type otherwise. */
  const classOf = (v: number) => {
    const t = type(v);
    if (t === "object" || t === "native") return name(v).split(" ")[0] || "(anonymous)";
    if (t === "closure") return "(closure)";
    if (t === "code" || t === "hidden" || t === "array") return `(${t}) ${name(v).slice(0, 40)}`;
    return `(${t})`;
  };

  const idom = dominators(n, firstEdge, targets, skip);
  // Retained sizes: children before parents in a reverse DFS order of the dominator tree.
  const childCount = new Uint32Array(n + 1);
  for (let v = 1; v < n; v++) if (idom[v] >= 0) childCount[idom[v] + 1]++;
  for (let v = 0; v < n; v++) childCount[v + 1] += childCount[v];
  const children = new Uint32Array(childCount[n]);
  const fillAt = childCount.slice(0, n);
  for (let v = 1; v < n; v++) if (idom[v] >= 0) children[fillAt[idom[v]]++] = v;
  const order: number[] = [];
  const stack = [0];
  while (stack.length) {
    const v = stack.pop()!;
    order.push(v);
    for (let k = childCount[v]; k < childCount[v + 1]; k++) stack.push(children[k]);
  }
  const retained = new Float64Array(n);
  for (let i = order.length - 1; i >= 0; i--) {
    const v = order[i];
    retained[v] += self(v);
    if (v !== 0) retained[idom[v]] += retained[v];
  }
  let total = 0;
  for (let v = 0; v < n; v++) total += self(v);
  console.log(`\n${path.basename(file)}: ${n} nodes, ${mb(total)} MB self size, ${mb(retained[0])} MB reachable`);

  // Per class: self size and count; retained counted for the outermost object of its class on a dominator path.
  const byClass = new Map<string, { self: number; count: number; retained: number }>();
  const depth = new Map<string, number>();
  const classes: string[] = new Array<string>(n);
  for (let v = 0; v < n; v++) {
    const c = classOf(v);
    classes[v] = c;
    const s = byClass.get(c) ?? { self: 0, count: 0, retained: 0 };
    s.self += self(v);
    s.count++;
    byClass.set(c, s);
  }
  // Iterative DFS over the dominator tree with enter/leave to know whether a same-class ancestor exists.
  const visit: number[] = [0];
  while (visit.length) {
    const x = visit.pop()!;
    if (x < 0) {
      const c = classes[~x];
      depth.set(c, depth.get(c)! - 1);
      continue;
    }
    const c = classes[x];
    const d = depth.get(c) ?? 0;
    if (d === 0) byClass.get(c)!.retained += retained[x];
    depth.set(c, d + 1);
    visit.push(~x);
    for (let k = childCount[x]; k < childCount[x + 1]; k++) visit.push(children[k]);
  }
  const rows = [...byClass].filter(([c]) => c !== "(synthetic)");
  console.log("\n     self MB  retained MB    count   class (by self size)");
  for (const [c, s] of rows.sort((a, b) => b[1].self - a[1].self).slice(0, TOP)) {
    console.log(`  ${mb(s.self)}      ${mb(s.retained)}  ${String(s.count).padStart(8)}   ${c}`);
  }
  console.log("\n     self MB  retained MB    count   class (by retained size)");
  for (const [c, s] of rows.sort((a, b) => b[1].retained - a[1].retained).slice(0, TOP)) {
    console.log(`  ${mb(s.self)}      ${mb(s.retained)}  ${String(s.count).padStart(8)}   ${c}`);
  }

  // Largest single retainers that are not synthetic roots, with what holds them (one step up).
  const big: number[] = [];
  for (let v = 1; v < n; v++) if (type(v) !== "synthetic" && retained[v] > 256 * 1024) big.push(v);
  big.sort((a, b) => retained[b] - retained[a]);
  console.log("\n  retained MB   node  (held by)");
  for (const v of big.slice(0, TOP)) {
    const holder = idom[v];
    console.log(
      `     ${mb(retained[v])}   ${classOf(v)} ${type(v) === "string" ? "" : name(v).slice(0, 60)}  (${classOf(holder)} ${name(holder).slice(0, 40)})`,
    );
  }

  const edgeName = (from: number, to: number) => {
    for (let e = firstEdge[from]; e < firstEdge[from + 1]; e++) {
      if (targets[e] !== to) continue;
      const t = edgeTypes[edges[e * ef + eType]];
      const x = edges[e * ef + eName];
      return t === "element" || t === "hidden" ? `[${x}]` : strings[x];
    }
    return "…";
  };
  for (const v of big.slice(0, PATHS)) {
    const chain: string[] = [];
    for (let x = v, i = 0; x !== 0 && i < 12; x = idom[x], i++) {
      chain.push(`${classOf(x)} ${type(x) === "string" ? "" : name(x).slice(0, 30)}`.trim() + ` .${edgeName(idom[x], x)}`);
    }
    console.log(`\n  ${mb(retained[v]).trim()} MB: ${chain.join("\n      <- ")}`);
  }

  // Strings.
  const sliced = nodeTypes.indexOf("sliced string");
  const kinds = new Map<string, { self: number; count: number }>();
  const strs: number[] = [];
  const parents = new Set<number>();
  for (let v = 0; v < n; v++) {
    const t = type(v);
    if (!t.includes("string")) continue;
    const k = kinds.get(t) ?? { self: 0, count: 0 };
    k.self += self(v);
    k.count++;
    kinds.set(t, k);
    strs.push(v);
    if (nodes[v * nf + nType] === sliced) {
      for (let e = firstEdge[v]; e < firstEdge[v + 1]; e++) {
        if (strings[edges[e * ef + eName]] === "parent") parents.add(targets[e]);
      }
    }
  }
  console.log("\n  strings by kind");
  for (const [t, k] of [...kinds].sort((a, b) => b[1].self - a[1].self)) console.log(`  ${mb(k.self)} MB ${String(k.count).padStart(8)}   ${t}`);
  let parentBytes = 0;
  for (const p of parents) parentBytes += self(p);
  console.log(`  sliced strings keep ${parents.size} parent strings alive: ${mb(parentBytes)} MB`);
  const text = new Map<string, { self: number; count: number }>();
  for (const v of strs) {
    const key = name(v).slice(0, 60).replace(/\s+/g, " ");
    const k = text.get(key) ?? { self: 0, count: 0 };
    k.self += self(v);
    k.count++;
    text.set(key, k);
  }
  console.log("\n  strings by first 60 characters (MB, count)");
  for (const [t, k] of [...text].sort((a, b) => b[1].self - a[1].self).slice(0, TOP)) {
    console.log(`  ${mb(k.self)} ${String(k.count).padStart(8)}   ${JSON.stringify(t)}`);
  }
}

for (const f of process.argv.slice(2).filter((a) => a.endsWith(".heapsnapshot"))) summarise(f);
