// The slide viewer of pcam serve --slides: a slide in OpenSeadragon (Deep Zoom tiles from the
// server), its tumour heatmap as an overlay with opacity and threshold, the tumour contours, the
// prediction's progress, and a clicked tile's probability with Grad-CAM.

export {}

interface Point {
  x: number
  y: number
}
interface OsdViewer {
  open(source: unknown): void
  addOverlay(options: {
    element: HTMLElement | SVGElement
    location: unknown
    placement?: unknown
  }): void
  clearOverlays(): void
  removeOverlay(element: HTMLElement | SVGElement): void
  addHandler(event: 'canvas-click', handler: (e: { position: Point; quick: boolean }) => void): void
  addHandler(event: 'animation' | 'open', handler: () => void): void
  world: { getItemCount(): number }
  viewport: {
    imageToViewportRectangle(x: number, y: number, w: number, h: number): unknown
    imageToViewportCoordinates(x: number, y: number): unknown
    fitBounds(rect: unknown, immediately?: boolean): void
    viewerElementToImageCoordinates(p: Point): Point
    getZoom(current?: boolean): number
    viewportToImageZoom(zoom: number): number
  }
}
declare const OpenSeadragon: ((options: Record<string, unknown>) => OsdViewer) & {
  Point: new (x: number, y: number) => Point
  Placement: { CENTER: unknown }
}

interface Job {
  status: string
  done: number
  total: number
  error?: string
}
interface Result {
  summary: {
    threshold: number
    tileSize: number
    stride: number
    tissueTiles: number
    score: { max: number; topKMean: number; k: number }
    tumourAreaMm2: number
    detections?: number
  }
  grid: { cols: number; rows: number; tileSize0: number; stride0: number }
  cells: (number | null)[]
  geojson: { features: { geometry: { coordinates: number[][][] } }[] }
  detections: { x: number; y: number; probability: number }[]
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const select = $<HTMLSelectElement>('slide-select')
const status = $<HTMLSpanElement>('status')
const opacity = $<HTMLInputElement>('opacity')
const threshold = $<HTMLInputElement>('threshold')
const thresholdValue = $<HTMLOutputElement>('threshold-value')
const contours = $<HTMLInputElement>('contours')
const tileInfo = $<HTMLElement>('tile-info')
const downloads = $<HTMLSpanElement>('downloads')
// What QuPath and a spreadsheet open: contours, tile measurements, lesion candidates, tiles.
const DOWNLOADS = ['tumour.geojson', 'tiles.geojson', 'detections.csv', 'tiles.csv', 'overlay.png']

const viewer = OpenSeadragon({
  id: 'viewer',
  // Zoom in, zoom out, home and full page, with the button images the server serves.
  showNavigationControl: true,
  prefixUrl: '/vendor/images/',
  // A minimap of where the view is; the slide cannot be panned or zoomed out of sight.
  showNavigator: true,
  navigatorPosition: 'BOTTOM_RIGHT',
  visibilityRatio: 0.5,
  constrainDuringPan: true,
  crossOriginPolicy: false,
})
let slideWidth = 1
let result: Result | null = null
const heat = document.createElement('canvas')
heat.id = 'heat'
const svgNs = 'http://www.w3.org/2000/svg'
const outline = document.createElementNS(svgNs, 'svg')
outline.id = 'outline'

const api = (name: string, path = '') => `/api/slides/${encodeURIComponent(name)}${path}`

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init)
  const body = await response.json()
  if (!response.ok) throw new Error(body.error ?? response.statusText)
  return body as T
}

// Jet colours, as pcam's heatmap.png.
function jet(p: number): [number, number, number] {
  const c = (centre: number) =>
    Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * p - centre))))
  return [c(3), c(2), c(1)]
}

function drawHeat(): void {
  if (!result) return
  const { cols, rows } = result.grid
  heat.width = cols
  heat.height = rows
  const ctx = heat.getContext('2d') as CanvasRenderingContext2D
  const image = ctx.createImageData(cols, rows)
  const cut = Number(threshold.value)
  // Every predicted cell in its colour, so the blue end shows too; under the threshold, faint.
  result.cells.forEach((p, i) => {
    if (p === null) return
    image.data.set([...jet(p), p >= cut ? 255 : 90], i * 4)
  })
  ctx.putImageData(image, 0, 0)
  heat.style.opacity = opacity.value
  thresholdValue.value = cut.toFixed(2)
  contours.title = `Contours at threshold ${cut.toFixed(3)}`
}

// The contours follow the slider: the server traces them at its value (after it rests 150 ms).
let contourTimer: ReturnType<typeof setTimeout> | undefined
function followContours(): void {
  clearTimeout(contourTimer)
  contourTimer = setTimeout(async () => {
    if (!result) return
    const name = select.value
    const geojson = await json<Result['geojson']>(
      api(name, `/contours?threshold=${Number(threshold.value)}`),
    )
    if (!result || select.value !== name) return
    result.geojson = geojson
    drawOutline(slideHeight)
  }, 150)
}

let slideHeight = 1
function drawOutline(height: number): void {
  if (!result) return
  slideHeight = height
  outline.setAttribute('viewBox', `0 0 ${slideWidth} ${height}`)
  outline.setAttribute('preserveAspectRatio', 'none')
  outline.replaceChildren(
    ...result.geojson.features.map((f) => {
      const path = document.createElementNS(svgNs, 'path')
      path.setAttribute(
        'd',
        f.geometry.coordinates
          .map((ring) => `M${ring.map((p) => p.join(',')).join('L')}Z`)
          .join(''),
      )
      path.setAttribute('fill', 'none')
      // Magenta: a colour the jet scale of the heatmap never uses.
      path.setAttribute('stroke', '#ff00ff')
      path.setAttribute('stroke-width', String(Math.max(2, slideWidth / 400)))
      path.setAttribute('fill-rule', 'evenodd')
      return path
    }),
  )
  outline.style.display = contours.checked ? '' : 'none'
}

async function showResult(name: string, height: number): Promise<void> {
  result = await json<Result>(api(name, '/result'))
  threshold.value = String(result.summary.threshold)
  const { cols, rows, tileSize0, stride0 } = result.grid
  const offset = (tileSize0 - stride0) / 2
  viewer.clearOverlays()
  drawHeat()
  drawOutline(height)
  const rect = (x: number, y: number, w: number, h: number) =>
    viewer.viewport.imageToViewportRectangle(x, y, w, h)
  viewer.addOverlay({
    element: heat,
    location: rect(offset, offset, cols * stride0, rows * stride0),
  })
  viewer.addOverlay({ element: outline, location: rect(0, 0, slideWidth, height) })
  downloads.replaceChildren(
    'Download: ',
    ...DOWNLOADS.map((file) => {
      const link = document.createElement('a')
      link.href = api(name, `/files/${file}`)
      link.textContent = file
      link.download = `${name}.${file}`
      return link
    }),
  )
  for (const link of downloads.querySelectorAll('a')) link.style.marginRight = '0.6rem'
  const { score, tumourAreaMm2, tissueTiles } = result.summary
  // The slide-level answer, as slide predict prints it.
  showDetections(result, rect)
  status.textContent =
    `${tissueTiles} tiles predicted: slide score (highest tile) ${score.max.toFixed(3)}, ` +
    `top-${score.k} mean ${score.topKMean.toFixed(3)}, tumour ${tumourAreaMm2.toFixed(3)} mm²` +
    ` at threshold ${result.summary.threshold.toFixed(3)}`
}

/**
 * The lesion candidates (detections.csv) as numbered markers on the slide, and the ten most
 * likely as a list whose entries zoom to them.
 */
function showDetections(r: Result, rect: (x: number, y: number, w: number, h: number) => unknown) {
  const list = $<HTMLOListElement>('lesions')
  const top = r.detections.slice(0, 10)
  const span = r.grid.tileSize0 * 3 // a view three tiles wide around a candidate
  list.replaceChildren(
    ...top.map((d, k) => {
      const marker = document.createElement('div')
      marker.className = 'detection'
      marker.textContent = String(k + 1)
      // A point overlay keeps its size in screen pixels at every zoom.
      viewer.addOverlay({
        element: marker,
        location: viewer.viewport.imageToViewportCoordinates(d.x, d.y),
        placement: OpenSeadragon.Placement.CENTER,
      })
      const item = document.createElement('li')
      const button = document.createElement('button')
      button.type = 'button'
      button.textContent = `p ${d.probability.toFixed(3)} at (${Math.round(d.x)}, ${Math.round(d.y)})`
      button.onclick = () =>
        viewer.viewport.fitBounds(rect(d.x - span / 2, d.y - span / 2, span, span))
      item.append(button)
      return item
    }),
  )
  $<HTMLElement>('lesions-panel').hidden = top.length === 0
}

async function poll(name: string, height: number): Promise<void> {
  for (;;) {
    const info = await json<{ job: Job | null }>(api(name))
    const job = info.job
    if (!job) return
    if (job.status === 'failed') {
      status.textContent = `Failed: ${job.error}`
      return
    }
    if (job.status === 'done') return showResult(name, height)
    status.textContent =
      job.status === 'queued'
        ? 'Queued…'
        : job.total === 0
          ? 'Predicting: finding the tissue…'
          : `Predicting: ${job.done}/${job.total} tiles`
    await new Promise((r) => setTimeout(r, 300))
  }
}

/** The server's cautions about the slide (scale, scanner), one line each; hidden when none. */
function showCautions(cautions: string[]): void {
  const caution = $<HTMLParagraphElement>('caution')
  caution.replaceChildren(
    ...cautions.flatMap((text, i) => (i === 0 ? [text] : [document.createElement('br'), text])),
  )
  caution.hidden = cautions.length === 0
}

async function openSlide(name: string): Promise<void> {
  result = null
  downloads.replaceChildren()
  $<HTMLElement>('lesions-panel').hidden = true
  tileInfo.replaceChildren()
  const info = await json<{
    deepZoom: {
      width: number
      height: number
      tileSize: number
      minLevel: number
      maxLevel: number
    }
    job: Job | null
    mpp: number | null
    cautions: string[]
  }>(api(name))
  const dz = info.deepZoom
  slideMpp = info.mpp
  showCautions(info.cautions)
  slideWidth = dz.width
  viewer.clearOverlays()
  viewer.open({
    width: dz.width,
    height: dz.height,
    tileSize: dz.tileSize,
    tileOverlap: 0,
    minLevel: dz.minLevel,
    maxLevel: dz.maxLevel,
    getTileUrl: (level: number, x: number, y: number) => api(name, `/dz/${level}/${x}_${y}.jpeg`),
  })
  status.textContent = info.job ? '' : 'Not predicted yet'
  if (info.job) await poll(name, dz.height)
  $<HTMLButtonElement>('predict').onclick = async () => {
    await json(api(name, '/predict'), { method: 'POST' })
    await poll(name, dz.height)
  }
}

// The clicked tile, outlined on the slide.
const marker = document.createElement('div')
marker.id = 'tile-marker'
marker.style.border = '3px solid #00e5ff'
marker.style.boxSizing = 'border-box'
let slideMpp: number | null = null

viewer.addHandler('canvas-click', async (event) => {
  if (!event.quick) return
  const point = viewer.viewport.viewerElementToImageCoordinates(event.position)
  const name = select.value
  try {
    const tile = await json<{
      x: number
      y: number
      size: number
      probability: number
      tile: string
      heatmap: string
    }>(api(name, `/tile?x=${Math.floor(point.x)}&y=${Math.floor(point.y)}`))
    viewer.removeOverlay(marker)
    viewer.addOverlay({
      element: marker,
      location: viewer.viewport.imageToViewportRectangle(tile.x, tile.y, tile.size, tile.size),
    })
    const image = (src: string, alt: string) => {
      const img = document.createElement('img')
      img.src = src
      img.alt = alt
      return img
    }
    const text = document.createElement('p')
    text.id = 'tile-probability'
    const size = slideMpp ? `, ${Math.round(tile.size * slideMpp)} µm wide` : ''
    text.textContent = `Tile at (${tile.x}, ${tile.y}): probability ${tile.probability.toFixed(3)}${size}`
    const pictures = document.createElement('div')
    pictures.className = 'tile-pictures'
    pictures.append(
      image(tile.tile, `The tile at ${tile.x}, ${tile.y}`),
      image(tile.heatmap, `Grad-CAM of the tile at ${tile.x}, ${tile.y}`),
    )
    const key = document.createElement('p')
    key.className = 'gradcam-key'
    key.textContent = 'Grad-CAM: blue, little evidence of tumour; red, the most.'
    tileInfo.replaceChildren(text, pictures, key)
  } catch (error) {
    const note = document.createElement('p')
    note.className = 'note'
    note.textContent = (error as Error).message
    tileInfo.replaceChildren(note)
  }
})

// Magnification and a scale bar from the slide's µm/px and the zoom: 10x is about 1 µm per
// screen pixel, as under a microscope's 10x objective.
const scale = $<HTMLSpanElement>('scale')
const scaleBar = $<HTMLSpanElement>('scale-bar')
function showScale(): void {
  if (!slideMpp) {
    scale.hidden = true
    return
  }
  const umPerPixel = slideMpp / viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true))
  const um =
    [10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((l) => l / umPerPixel >= 60) ?? 10000
  scale.hidden = false
  scaleBar.style.width = `${Math.round(um / umPerPixel)}px`
  const length = um >= 1000 ? `${um / 1000} mm` : `${um} µm`
  $<HTMLSpanElement>('scale-label').textContent = `${length} · ≈${(10 / umPerPixel).toFixed(1)}x`
}
viewer.addHandler('animation', showScale)
viewer.addHandler('open', showScale)

opacity.oninput = () => (heat.style.opacity = opacity.value)
threshold.oninput = () => {
  drawHeat()
  followContours()
}
contours.onchange = () => (outline.style.display = contours.checked ? '' : 'none')
select.onchange = () => void openSlide(select.value)

// Before any prediction the slider stands at the run's own threshold, not at 0.5.
const model = await json<{ threshold: number; mpp: number | null }>('/api/model')
threshold.value = String(model.threshold)
thresholdValue.value = model.threshold.toFixed(2)

const { slides } = await json<{ slides: { name: string }[] }>('/api/slides')
for (const s of slides) select.append(new Option(s.name, s.name))
if (slides[0]) await openSlide(slides[0].name)
