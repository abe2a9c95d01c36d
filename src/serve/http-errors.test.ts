import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ConfigError,
  DataError,
  errorFromMessage,
  errorToMessage,
  TorchError,
  ValidationError,
} from '../errors.js'
import { QueueFullError } from './batcher.js'
import { errorAnswer, HttpError } from './http-errors.js'

const TOO_LARGE = 'The request is too large.'

describe('errorAnswer', () => {
  it("maps pcam's input errors to 400 with their code, its own trouble to a bare 500", () => {
    assert.deepEqual(errorAnswer(new DataError('bad patch'), TOO_LARGE), {
      status: 400,
      headers: {},
      body: { error: 'bad patch', code: 'DATA' },
    })
    assert.equal(errorAnswer(new ValidationError('x'), TOO_LARGE).status, 400)
    for (const error of [new ConfigError('x'), new TorchError('x', 'TORCH'), new Error('x')])
      assert.deepEqual(errorAnswer(error, TOO_LARGE).body, { error: 'Internal error' })
  })

  it('keeps the status of HTTP errors, names the limits for 413, and asks to retry a full queue', () => {
    assert.equal(errorAnswer(new HttpError(415, 'no'), TOO_LARGE).status, 415)
    const large = Object.assign(new Error('reach files limit'), { statusCode: 413 })
    assert.deepEqual(errorAnswer(large, TOO_LARGE).body, { error: TOO_LARGE })
    const full = errorAnswer(new QueueFullError(8), TOO_LARGE)
    assert.deepEqual([full.status, full.headers], [503, { 'retry-after': '1' }])
  })

  it('errors keep their class and code through errorToMessage and errorFromMessage', () => {
    const data = errorFromMessage(structuredClone(errorToMessage(new DataError('gone'))))
    assert.ok(data instanceof DataError)
    assert.equal(data.message, 'gone')
    const torch = errorFromMessage(errorToMessage(new TorchError('oom', 'TORCH_OOM')))
    assert.ok(torch instanceof TorchError && torch.code === 'TORCH_OOM')
    const plain = errorFromMessage(errorToMessage(new RangeError('r')))
    assert.deepEqual([plain.name, plain.message], ['RangeError', 'r'])
  })
})
