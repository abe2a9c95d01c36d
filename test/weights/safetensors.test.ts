// The safetensors writer: every dtype pcam stores, views that are not contiguous, empty tensors
// and metadata come back as written, and the file has the format's layout (8-byte length, JSON
// header padded to 8 bytes, the tensors' bytes back to back in header order), which Python reads.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { arange, tensor, type Tensor } from '../../src/torch/index.js'
import { readSafetensors, writeSafetensors } from '../../src/weights/safetensors.js'
import { tempDir } from '../helpers/temp-dir.js'

const dir = tempDir('safetensors')

function written(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    // A transposed view: its bytes must be written row-major, not in storage order.
    ['weight', arange(0, 12).reshape(3, 4).transpose(0, 1)],
    ['half', tensor([1.5, -2, 3.25]).to('bfloat16')],
    ['steps', tensor([1, 2, 2 ** 40], { dtype: 'int64' })],
    ['pixels', tensor(new Uint8Array([0, 127, 255]))],
    ['mask', tensor([1, 0, 1]).to('bool')],
    ['empty', arange(0, 0)],
  ])
}

describe('safetensors writer', () => {
  it('reads back every tensor, its dtype, shape, values and the metadata', async () => {
    const path = join(dir, 'all.safetensors')
    const tensors = written()
    await writeSafetensors(path, tensors, { generation: '7' })
    const back = readSafetensors(path)
    assert.deepEqual(back.metadata, { generation: '7' })
    assert.deepEqual([...back.tensors.keys()], [...tensors.keys()])
    for (const [name, t] of tensors) {
      const r = back.tensors.get(name) as Tensor
      assert.equal(r.dtype, t.dtype, name)
      assert.deepEqual(r.shape, t.shape, name)
      assert.deepEqual(r.toArray(), t.toArray(), name)
    }
    assert.deepEqual(back.tensors.get('weight')?.toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
  })

  it('lays the file out as the format says, readable by Python', async () => {
    const path = join(dir, 'layout.safetensors')
    await writeSafetensors(path, written())
    const file = readFileSync(path)
    const length = Number(file.readBigUInt64LE(0))
    assert.equal((8 + length) % 8, 0, 'data starts 8-byte aligned')
    const header = JSON.parse(file.subarray(8, 8 + length).toString('utf8')) as Record<
      string,
      { data_offsets: [number, number] }
    >
    let offset = 0
    for (const entry of Object.values(header)) {
      assert.equal(entry.data_offsets[0], offset)
      offset = entry.data_offsets[1]
    }
    assert.equal(statSync(path).size, 8 + length + offset)
    const python = spawnSync(
      'python3',
      [
        '-c',
        `import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
h = json.loads(data[8:8 + n])
a, b = h["steps"]["data_offsets"]
print(list(struct.unpack("<3q", data[8 + n + a:8 + n + b])))`,
        path,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(python.status, 0, python.stderr)
    assert.deepEqual(JSON.parse(python.stdout), [1, 2, 2 ** 40])
  })
})
