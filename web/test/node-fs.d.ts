// Vitest runs in Node, and the golden-message test reads its files from
// tests/golden with node:fs. The page itself has no Node types (and needs
// no @types/node dependency for one function): this declares what the
// test uses.
declare module 'node:fs' {
  export function readFileSync(path: string): Uint8Array;
  export function readFileSync(path: string, encoding: 'utf8'): string;
}
