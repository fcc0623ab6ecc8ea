import type { Node, NodeAPI, NodeStatus } from "node-red";

/**
 * Status updates coalesced to at most one every `ms`: a catch-up settles thousands of entries a
 * second and each status() call is a message to every open editor.
 */
export function debouncedStatus(node: Node, compute: () => NodeStatus, ms = 250): { update(): void; now(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let last = "";
  const apply = () => {
    timer = undefined;
    const s = compute();
    const key = JSON.stringify(s);
    if (key !== last) {
      last = key;
      node.status(s);
    }
  };
  return {
    update() {
      if (!timer) timer = setTimeout(apply, ms);
    },
    now() {
      if (timer) clearTimeout(timer);
      apply();
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Shortens a status line so it fits under a node. */
export function clip(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A user of a server whose certificate verification is off shows it in every status line: yellow
 * (red stays red) and the config node's note in front of the text.
 */
export function withTlsNote(server: { tlsNote?: string } | null | undefined, compute: () => NodeStatus): () => NodeStatus {
  const note = server?.tlsNote;
  if (!note) return compute;
  return () => {
    const s = compute();
    return { fill: s.fill === "red" ? "red" : "yellow", shape: s.shape ?? "ring", text: s.text ? `${note} · ${String(s.text)}` : note };
  };
}

/** debouncedStatus for a node that uses a server: with its TLS note, shown from the start when there is one. */
export function serverStatus(
  node: Node,
  server: { tlsNote?: string } | null | undefined,
  compute: () => NodeStatus,
  ms = 250,
): { update(): void; now(): void; cancel(): void } {
  const status = debouncedStatus(node, withTlsNote(server, compute), ms);
  if (server?.tlsNote) status.update();
  return status;
}

/**
 * The counts of a status line, the same way on every node: "12 sent · 3 retrying · 1 dead". The first
 * part is always shown, the others only when not zero, so an idle line stays short. Each word is the
 * node's i18n key `<ns>.count.<key>` with `n`; the words are the Sync sidebar's (sent, queued, in flight,
 * retrying, dead, filtered).
 */
export function countsText(RED: Pick<NodeAPI, "_">, ns: string, parts: [key: string, n: number][]): string {
  return parts
    .filter(([, n], i) => i === 0 || n > 0)
    .map(([key, n]) => RED._(`${ns}.count.${key}`, { n }))
    .join(" · ");
}
