import type { Node } from "node-red";
import type { UsersConfigNode } from "./types";

/** Adds users/register/deregister to a config node (10-mqtt's pattern). */
export function trackUsers(node: Node): UsersConfigNode {
  const n = node as UsersConfigNode;
  n.users = {};
  n.register = (user: Node) => {
    n.users[user.id] = user;
  };
  n.deregister = (user: Node) => {
    delete n.users[user.id];
  };
  return n;
}

/** Resolves when a config node has no users left, or after timeoutMs. */
export async function usersGone(node: UsersConfigNode, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Object.keys(node.users).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
}
