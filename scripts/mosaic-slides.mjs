// Annotated mosaic slides from the real patches in ../shared/data, for trying the whole-slide loop
// and for the README's figures: node scripts/mosaic-slides.mjs <dir> (after make build).
// <dir>/slides and <dir>/test-slides hold slides of 8 x 6 patches, each tumour slide with a
// rectangle of tumour patches (seeded positions) annotated in <dir>/annotations and
// <dir>/test-annotations (GeoJSON and ASAP XML alternately); one training slide is a 40x-like scan
// at 0.243 µm/px. Normal slides are listed in labels.csv. Training and test slides use different
// patches (all from PCam's valid split, whose slides are disjoint from its training split).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { enlargedMosaic, makeMosaic, PATCH } from '../dist/test/helpers/mosaic.js'

const dir = process.argv[2]
if (!dir) {
  console.error('usage: node scripts/mosaic-slides.mjs <dir>')
  process.exit(1)
}
const [COLS, ROWS] = [8, 6]
let state = 20261207
const random = () => (state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32
const int = (n) => Math.floor(random() * n)

function annotation(name, region, scale) {
  const [x0, y0, x1, y1] = region.map((v) => v * PATCH * scale)
  if (name.endsWith('.xml')) {
    const points = [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
    ]
    const coordinates = points.map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`)
    return `<?xml version="1.0"?><ASAP_Annotations><Annotations><Annotation Name="tumour" Type="Polygon" PartOfGroup="_0"><Coordinates>${coordinates.join('')}</Coordinates></Annotation></Annotations></ASAP_Annotations>`
  }
  const ring = [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
    [x0, y0],
  ]
  return JSON.stringify({
    type: 'FeatureCollection',
    features: [
      {
        type: 'Feature',
        geometry: { type: 'Polygon', coordinates: [ring] },
        properties: { objectType: 'annotation', classification: { name: 'Tumor' } },
      },
    ],
  })
}

let offset = 0
async function slides(slideDir, annotationDir, tumours, normals, fortyX) {
  mkdirSync(slideDir, { recursive: true })
  mkdirSync(annotationDir, { recursive: true })
  const labels = ['slide,label']
  for (let k = 0; k < tumours; k++) {
    const [w, h] = [2 + int(3), 2 + int(2)]
    const [c, r] = [int(COLS - w + 1), int(ROWS - h + 1)]
    const region = [c, r, c + w, r + h]
    const name = `tumour_${k}`
    const big = fortyX && k === 0
    const at = join(slideDir, `${name}.tif`)
    const mosaic = await makeMosaic(big ? `${at}.10x.tif` : at, COLS, ROWS, region, { offset })
    offset += COLS * ROWS
    if (big) {
      await enlargedMosaic(mosaic, at, 4)
      rmSync(`${at}.10x.tif`)
    }
    const file = k % 2 ? `${name}.xml` : `${name}.geojson`
    writeFileSync(join(annotationDir, file), annotation(file, region, big ? 4 : 1))
  }
  for (let k = 0; k < normals; k++) {
    await makeMosaic(join(slideDir, `normal_${k}.tif`), COLS, ROWS, [0, 0, 0, 0], { offset })
    offset += COLS * ROWS
    labels.push(`normal_${k}.tif,0`)
  }
  return labels
}

const train = await slides(join(dir, 'slides'), join(dir, 'annotations'), 8, 4, true)
writeFileSync(join(dir, 'labels.csv'), `${train.join('\n')}\n`)
const test = await slides(join(dir, 'test-slides'), join(dir, 'test-annotations'), 4, 4, false)
writeFileSync(join(dir, 'test-labels.csv'), `${test.join('\n')}\n`)
console.log(`Wrote 12 training and 8 test slides with their annotations to ${dir}`)
