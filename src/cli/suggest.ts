/**
 * "Did you mean": the closest of the known words to a mistyped one, by edit distance.
 * @module
 */

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours as one. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[]
      const up = d[i - 1] as number[]
      row[j] = Math.min(
        (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
        (up[j] as number) + 1,
        (row[j - 1] as number) + 1,
      )
      // "trian" for "train": two letters swapped is one slip of the fingers.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1)
    }
  }
  return (d[a.length] as number[])[b.length] as number
}

/**
 * The known word closest to `typed`, when it is close enough to be a typo (at most a third of
 * its letters off, and at least one), or a word that `typed` begins or ends; else undefined.
 */
export function closest(typed: string, known: readonly string[]): string | undefined {
  // Every word begins with "": nothing typed is close to nothing in particular.
  if (typed === '') return undefined
  let best: string | undefined
  let bestDistance = Infinity
  for (const word of known) {
    const distance = editDistance(typed, word)
    if (distance < bestDistance) {
      best = word
      bestDistance = distance
    }
  }
  const allowed = Math.max(1, Math.floor(typed.length / 3))
  if (best !== undefined && bestDistance <= allowed) return best
  return known.find((word) => word.startsWith(typed) || typed.startsWith(word))
}
