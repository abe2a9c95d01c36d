// The ImageNet MobileNet of ../shared/weights, imported from TF.js, against TensorFlow.js itself
// (its CPU backend) on the same input: the class probabilities must agree.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import * as t from '../../src/torch/index.js'
import { mobilenetV1FromTfjs } from '../../src/weights/tfjs.js'
import { assertClose } from '../helpers/torch-reference.js'
import { SHARED_DATA } from '../helpers/shared-data.js'

const WEIGHTS = join(SHARED_DATA, '..', 'weights', 'mobilenet_v1_0.75_224')
const skip = existsSync(join(WEIGHTS, 'model.json'))
  ? false
  : `TF.js MobileNet not found at ${WEIGHTS}`

async function tfjsModel(): Promise<tfl.LayersModel> {
  const model = JSON.parse(readFileSync(join(WEIGHTS, 'model.json'), 'utf8'))
  const specs = model.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights)
  const shards = model.weightsManifest.flatMap((g: { paths: string[] }) =>
    g.paths.map((p) => readFileSync(join(WEIGHTS, p))),
  )
  const data = Buffer.concat(shards)
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
  return tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData }),
  )
}

describe('MobileNet v1 from TF.js', { skip }, () => {
  it("gives TensorFlow.js's ImageNet probabilities on the same input", async () => {
    await tf.setBackend('cpu')
    t.manualSeed(5)
    const nhwc = t.rand([2, 224, 224, 3]).mul(2).sub(1) // MobileNet's inputs are scaled to [-1, 1]
    const reference = await tfjsModel()
    const input = tf.tensor(nhwc.data() as Float32Array, [2, 224, 224, 3])
    const expected = tf.reshape(reference.predict(input) as tf.Tensor, [2, 1000])
    const expectedData = await expected.data()

    const net = mobilenetV1FromTfjs(WEIGHTS)
    assert.equal(net.lastChannels, 768)
    const logits = t.noGrad(() => net.forward(nhwc.permute(0, 3, 1, 2).contiguous()))
    const probabilities = t.softmax(logits, 1)
    const want = t.tensor(new Float32Array(expectedData), { shape: [2, 1000] })
    assertClose(probabilities, want, { what: 'class probabilities', atol: 1e-6, rtol: 1e-3 })
    assert.deepEqual(probabilities.argmax(1).toArray(), want.argmax(1).toArray())
  })
})
