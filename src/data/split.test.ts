// Splits: stratified proportions, no slide on both sides, the same seed gives the same split.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assignSplits, parseSlideMap, type SplitItem } from './split.js'

const items: SplitItem[] = Array.from({ length: 1000 }, (_, i) => ({
  id: `p${i}`,
  label: i % 4 === 0 ? 1 : 0,
  split: i >= 900 ? 'test' : null,
  slide: `s${i % 37}`,
}))

describe('splits', () => {
  it('random: the valid share of each label is the requested fraction; test stays test', () => {
    const splits = assignSplits(items, { kind: 'random', validPct: 0.2, seed: 1 })
    for (const label of [0, 1]) {
      const pool = items.filter((it, i) => it.label === label && splits[i] !== 'test')
      const valid = pool.filter((it) => splits[items.indexOf(it)] === 'valid').length
      assert.ok(
        Math.abs(valid / pool.length - 0.2) < 0.01,
        `label ${label}: ${valid}/${pool.length}`,
      )
    }
    assert.equal(splits.filter((s) => s === 'test').length, 100)
    assert.deepEqual(assignSplits(items, { kind: 'random', validPct: 0.2, seed: 1 }), splits)
    assert.notDeepEqual(assignSplits(items, { kind: 'random', validPct: 0.2, seed: 2 }), splits)
  })

  it('by slide: no slide has patches on both sides, and about the requested share is valid', () => {
    const splits = assignSplits(items, {
      kind: 'slide',
      validPct: 0.25,
      seed: 3,
      slides: null,
      origin: 'source',
    })
    const sides = new Map<string, Set<string>>()
    items.forEach((it, i) => {
      if (splits[i] === 'test') return
      sides.set(it.slide!, (sides.get(it.slide!) ?? new Set()).add(splits[i]!))
    })
    for (const [slide, set] of sides) assert.equal(set.size, 1, `slide ${slide} is on both sides`)
    const valid = splits.filter((s) => s === 'valid').length
    assert.ok(valid >= 225 && valid < 225 + 40, `${valid} valid patches`)
  })

  it('by slide from a CSV: every patch needs a slide', () => {
    const map = parseSlideMap('id,slide\np0,a\np1,b', 'slides.csv')
    assert.throws(
      () =>
        assignSplits(items.slice(0, 3), {
          kind: 'slide',
          validPct: 0.5,
          seed: 1,
          slides: map,
          origin: 'slides.csv',
        }),
      /1 patches have no slide in slides\.csv \(e\.g\. p2\)/,
    )
  })
})
