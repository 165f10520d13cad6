import assert from 'node:assert/strict';

/** Asserts that `action` throws an instance of `type` whose stable `code` is `code`. */
export function assertThrowsCode<E extends Error & { readonly code: string }>(action: () => unknown, type: abstract new (...args: never[]) => E, code: E['code']): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}
