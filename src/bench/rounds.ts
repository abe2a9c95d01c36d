/**
 * Alternating rounds of pcam and its PyTorch peer, so both see the same machine conditions on a
 * shared, noisy host; results are summarised by their median.
 * @module
 */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Runs `rounds` times pcam then (unless skipped) the peer; returns each side's results. */
export async function alternate<P, T>(options: {
  rounds: number
  pcam: () => P | Promise<P>
  peer: (() => T) | null
  onProgress?: (message: string) => void
}): Promise<{ pcam: P[]; peer: T[] }> {
  const out: { pcam: P[]; peer: T[] } = { pcam: [], peer: [] }
  for (let round = 1; round <= options.rounds; round++) {
    options.onProgress?.(`round ${round}/${options.rounds}: pcam`)
    out.pcam.push(await options.pcam())
    if (!options.peer) continue
    options.onProgress?.(`round ${round}/${options.rounds}: PyTorch`)
    out.peer.push(options.peer())
  }
  return out
}

export type Side = 'pcam' | 'torch'

/**
 * Who runs first in pair `index` (from 0) when whole runs are paired (pcam bench recipe): pcam in
 * even pairs, PyTorch in odd ones, so a machine that drifts over a pair favours neither side.
 */
export function pairOrder(index: number): Side[] {
  return index % 2 === 0 ? ['pcam', 'torch'] : ['torch', 'pcam']
}
