// Argument checks: the messages say what was expected and what was received.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkInteger, checkNumber, checkOptions, pair } from './check.js'

describe('argument checks', () => {
  it('integers', () => {
    assert.equal(checkInteger(3, 'stride', 1), 3)
    assert.throws(() => checkInteger(0, 'stride', 1), {
      message: 'Expected positive integer for stride but received 0 (number)',
    })
    assert.throws(() => checkInteger('2', 'groups', 1), /received 2 \(string\)/)
  })

  it('numbers in a range', () => {
    assert.throws(
      () => checkNumber(Number.NaN, 'lr', 0),
      /Expected number in \[0, Infinity\] for lr/,
    )
    assert.equal(checkNumber(0.5, 'p', 0, 1), 0.5)
  })

  it('pairs', () => {
    assert.deepEqual(pair(3, 'kernelSize'), [3, 3])
    assert.deepEqual(pair([1, 2], 'padding'), [1, 2])
    assert.throws(() => pair([1, 2, 3], 'padding'), /a number or a pair of numbers for padding/)
  })

  it('unknown options suggest the closest known name', () => {
    assert.throws(() => checkOptions({ learningRate: 1 }, ['lr', 'learning'], 'fit'), {
      message: 'Unknown option "learningRate" for fit; did you mean "learning"?',
    })
    assert.doesNotThrow(() => checkOptions({ lr: 1 }, ['lr'], 'fit'))
  })
})
