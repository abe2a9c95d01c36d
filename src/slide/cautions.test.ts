import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { slideCautions } from './cautions.js'

const pcamModel = { mpp: 0.972, sourceKind: 'pcam-hdf5' }
const camelyon = { mpp: 0.243, vendor: 'mirax', objectivePower: 20 }

describe('slideCautions', () => {
  it('says nothing of a Camelyon16-like slide for a PCam model', () => {
    assert.deepEqual(slideCautions(camelyon, pcamModel), [])
    const hamamatsu = { mpp: 0.2265, vendor: 'hamamatsu', objectivePower: 40 }
    assert.deepEqual(slideCautions(hamamatsu, pcamModel), [])
  })

  it('asks for --slide-mpp when the slide records no scale', () => {
    const [caution] = slideCautions({ ...camelyon, mpp: null }, pcamModel)
    assert.match(caution!, /no µm\/px \(mirax\).*--slide-mpp/)
  })

  it('warns of a slide coarser than the model', () => {
    const cautions = slideCautions({ ...camelyon, mpp: 2, objectivePower: null }, pcamModel)
    assert.equal(cautions.length, 1)
    assert.match(cautions[0]!, /2\.000 µm\/px, coarser than the model's 0\.972/)
  })

  it('warns when objective power and µm/px disagree', () => {
    // 40x at 1 µm/px: four times what a 40x scan records.
    const cautions = slideCautions({ ...camelyon, mpp: 1, objectivePower: 40 }, pcamModel)
    assert.equal(cautions.length, 1)
    assert.match(cautions[0]!, /40x objective usually means about 0\.25 µm\/px/)
    assert.deepEqual(slideCautions({ ...camelyon, mpp: 0.5, objectivePower: 20 }, pcamModel), [])
    const given = slideCautions(
      { ...camelyon, mpp: 1, objectivePower: 40, mppGiven: true },
      pcamModel,
    )
    assert.match(given[0]!, /--slide-mpp gives 1\.000.*check --slide-mpp\.$/)
  })

  it('warns of a scanner PCam never saw, for PCam models only', () => {
    const aperio = { mpp: 0.499, vendor: 'aperio', objectivePower: 20 }
    const [caution] = slideCautions(aperio, pcamModel)
    assert.match(caution!, /aperio scanner.*3DHISTECH and Hamamatsu/)
    assert.deepEqual(slideCautions(aperio, { mpp: 0.5, sourceKind: 'slides' }), [])
  })
})
