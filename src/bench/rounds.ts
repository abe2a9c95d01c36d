/**
 * Alternating rounds of pcam and its PyTorch peer, so both see the same machine conditions on a
 * shared, noisy host; results are summarised by their median (or mean, for whole runs).
 * @module
 */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export type Side = 'pcam' | 'torch'

/**
 * Who runs first in round `index` (from 0): pcam in even rounds, PyTorch in odd ones, so a machine
 * that drifts over the rounds favours neither side.
 */
export function pairOrder(index: number): Side[] {
  return index % 2 === 0 ? ['pcam', 'torch'] : ['torch', 'pcam']
}

/**
 * Runs `rounds` rounds of pcam and (unless skipped) the peer, in pairOrder: pcam first in even
 * rounds, the peer first in odd ones. Each callback gets the round's index (from 0).
 */
export async function alternate<P, T>(options: {
  rounds: number
  pcam: (round: number) => P | Promise<P>
  peer: ((round: number) => T | Promise<T>) | null
  onProgress?: (message: string) => void
}): Promise<{ pcam: P[]; peer: T[] }> {
  const out: { pcam: P[]; peer: T[] } = { pcam: [], peer: [] }
  for (let round = 0; round < options.rounds; round++) {
    for (const side of pairOrder(round)) {
      const of = `round ${round + 1}/${options.rounds}`
      if (side === 'pcam') {
        options.onProgress?.(`${of}: pcam`)
        out.pcam.push(await options.pcam(round))
      } else if (options.peer) {
        options.onProgress?.(`${of}: PyTorch`)
        out.peer.push(await options.peer(round))
      }
    }
  }
  return out
}
