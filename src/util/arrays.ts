/** Small array helpers used across layers (written once here). */

/** True when `a` and `b` hold the same items in the same order (`===` per item). */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
