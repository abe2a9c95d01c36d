import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { helpText, parseOptions, type Command } from './command.js'

const command: Command = {
  name: 'demo',
  summary: 'A command with one required option',
  options: {
    out: { type: 'string', required: true, value: 'store folder', description: 'Where to write' },
    size: { type: 'number', default: 96, description: 'Patch side' },
  },
  run: () => undefined,
}

describe('required options', () => {
  it('are refused when missing, named with what their value is, and marked in --help', () => {
    assert.throws(
      () => parseOptions(command, ['--size', '8']),
      /^ValidationError: Missing --out <store folder>$/,
    )
    assert.equal(parseOptions(command, ['--out', 'x']).values.out, 'x')
    assert.match(helpText(command), /--out <store folder> +Where to write \(required\)/)
    assert.match(helpText(command), /--size <number> +Patch side \(default: 96\)/)
  })
})
