import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DataError } from '../errors.js'
import { toPatch } from './uploads.js'

describe('toPatch', () => {
  it('names the file in a decoding DataError (a 400), and lets its own bugs through (a 500)', async () => {
    await assert.rejects(
      toPatch({ name: 'notes.png', bytes: Buffer.from('hello') }, 16, false),
      (e: unknown) =>
        e instanceof DataError &&
        /^Cannot decode notes\.png: not a PNG, JPEG or TIFF file \(5 bytes/.test(e.message) &&
        e.cause instanceof DataError,
    )
    // Not bytes at all: the server's mistake, not the client's, so not a DataError.
    const notBytes = { name: 'x.png', bytes: undefined as unknown as Buffer }
    await assert.rejects(toPatch(notBytes, 16, false), TypeError)
  })
})
