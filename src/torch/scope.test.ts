// scope() and keep() on plain objects: which ones are disposed, which survive.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keep, scope, track } from './scope.js'

class Fake {
  disposed = false
  constructor() {
    track(this)
  }
  dispose(): void {
    this.disposed = true
  }
}

describe('scope', () => {
  it('disposes everything not reachable from the result', () => {
    const made: Fake[] = []
    const result = scope(() => {
      made.push(new Fake(), new Fake(), new Fake())
      return { list: [made[1]], map: new Map([['k', made[2]]]) }
    })
    assert.deepEqual(
      made.map((f) => f.disposed),
      [true, false, false],
    )
    assert.equal(result.list[0], made[1])
  })

  it('hands kept objects to the enclosing scope', () => {
    let inner: Fake | undefined
    scope(() => {
      inner = scope(() => new Fake())
      assert.equal(inner.disposed, false)
    })
    assert.equal(inner!.disposed, true)
  })

  it('keep() exempts an object from every open scope', () => {
    let kept: Fake | undefined
    scope(() => scope(() => void (kept = keep(new Fake()))))
    assert.equal(kept!.disposed, false)
  })
})
