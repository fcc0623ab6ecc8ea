/** `--name value` from the command line, as a number. */
export function numberArg(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** Every `--name value` from the command line, in order (a repeatable option). */
export function listArg(name: string): string[] {
  const args = process.argv.slice(2);
  const out: string[] = [];
  for (let i = 0; i < args.length - 1; i++) if (args[i] === `--${name}`) out.push(args[++i]);
  return out;
}
