// Alternating rounds: who goes first flips every round, so a host that drifts over a benchmark
// favours neither pcam nor its PyTorch peer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alternate, median, pairOrder } from '../../src/bench/rounds.js'

describe('benchmark rounds', () => {
  it('pairOrder: pcam first in even rounds, PyTorch first in odd ones', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => pairOrder(i).join(' ')),
      ['pcam torch', 'torch pcam', 'pcam torch', 'torch pcam'],
    )
  })

  it('alternate runs the sides in that order, awaits both, and passes each the round', async () => {
    const calls: string[] = []
    const { pcam, peer } = await alternate({
      rounds: 3,
      pcam: async (round) => {
        await new Promise((r) => setTimeout(r, 5))
        calls.push(`pcam ${round}`)
        return round * 10
      },
      peer: async (round) => {
        await new Promise((r) => setTimeout(r, 1))
        calls.push(`torch ${round}`)
        return round * 100
      },
    })
    assert.deepEqual(calls, ['pcam 0', 'torch 0', 'torch 1', 'pcam 1', 'pcam 2', 'torch 2'])
    assert.deepEqual(pcam, [0, 10, 20])
    assert.deepEqual(peer, [0, 100, 200])
  })

  it('alternate without a peer runs pcam alone', async () => {
    const { pcam, peer } = await alternate({ rounds: 2, pcam: (round) => round, peer: null })
    assert.deepEqual(pcam, [0, 1])
    assert.deepEqual(peer, [])
  })

  it('median of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
  })
})
