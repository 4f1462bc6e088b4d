/**
 * Invariant checks that stay on in production (HAMMER's KKASSERT). The message
 * names the invariant that was violated, so a failure says what broke, not where.
 */
export class InvariantError extends Error {
  constructor(invariant: string) {
    super(`invariant violated: ${invariant}`);
    this.name = 'InvariantError';
  }
}

export function assert(condition: unknown, invariant: string): asserts condition {
  if (!condition) throw new InvariantError(invariant);
}
