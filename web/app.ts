/**
 * The web page of `pcam serve`: send patches to /api/predict, show each with its probability,
 * label and Grad-CAM overlay, or its own error; a sortable table with a threshold slider and CSV
 * export; the model card from /api/model. No framework and nothing from the network beyond the
 * server itself.
 */

interface ModelCard {
  arch: string
  head: string
  classes: string[]
  patchSize: number
  inputSize: number
  threshold: number
  thresholdRule: string
  tta: boolean | number[]
  training: { source?: { description?: string }; splitMethod?: string } | null
  validation: { auc: number; accuracy: number; stage: string; epoch: number } | null
  /** An ensemble's size (`pcam train --ensemble`): probabilities are its members' mean. */
  ensemble?: { members: number } | null
  evaluations: {
    name: string
    patches: number
    rocAuc: number
    rocAucLow: number
    rocAucHigh: number
    accuracy: number
    sensitivity: number
    specificity: number
  }[]
  roc: { fpr: number; tpr: number }[] | null
  rocEvaluation: string | null
  /** True in a static export: no server, predictions in the browser only. */
  static?: boolean
}

interface Result {
  name: string
  probability: number
  /** Who predicted it: the server's engine, or onnxruntime-web in this browser. */
  engine: 'server' | 'browser'
  heatmap?: string
  /** The patch as the user gave it, for the card. */
  url: string
}

interface Failure {
  name: string
  error: string
}

const BATCH = 16
const IMAGE = /\.(png|jpe?g|tiff?)$/i

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T
const results: Result[] = []
const failures: Failure[] = []
/** Cards whose heatmap the user toggled against the "Grad-CAM heatmaps" control. */
const flipped = new Set<Result>()
/** Counts uploads, so that an upload replaced by a newer one stops adding to the page. */
let uploadNumber = 0
let classes = ['negative', 'positive']
let sortKey: 'name' | 'probability' | 'label' = 'probability'
let sortDescending = true
let modelCard: ModelCard | null = null

const f3 = (v: number) => v.toFixed(3)

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

function threshold(): number {
  return Number($<HTMLInputElement>('#threshold').value)
}

function labelOf(p: number): string {
  return (p >= threshold() ? classes[1] : classes[0]) ?? ''
}

function rocSvg(
  points: { fpr: number; tpr: number }[],
  evaluation: { rocAuc: number; sensitivity: number; specificity: number },
): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '-0.2 -0.12 1.3 1.42')
  svg.setAttribute('width', '240')
  svg.setAttribute('height', '262')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', 'ROC curve of the evaluation')
  const line = (d: string, colour: string, dash = '') => {
    const path = document.createElementNS(ns, 'path')
    path.setAttribute('d', d)
    path.setAttribute('fill', 'none')
    path.setAttribute('stroke', colour)
    path.setAttribute('stroke-width', '0.012')
    if (dash) path.setAttribute('stroke-dasharray', dash)
    svg.append(path)
  }
  line('M0,1 L1,0', '#999', '0.03')
  line('M0,1 L0,0 L1,0', '#ccc') // axes (y grows downwards in SVG)
  line(points.map((p, k) => `${k ? 'L' : 'M'}${p.fpr},${1 - p.tpr}`).join(' '), '#0072b2')
  const text = (x: number, y: number, content: string, anchor = 'middle', rotate = false) => {
    const t = document.createElementNS(ns, 'text')
    t.setAttribute('x', String(x))
    t.setAttribute('y', String(y))
    t.setAttribute('font-size', '0.07')
    t.setAttribute('text-anchor', anchor)
    if (rotate) t.setAttribute('transform', `rotate(-90 ${x} ${y})`)
    t.textContent = content
    svg.append(t)
  }
  text(0.5, -0.04, `AUC ${f3(evaluation.rocAuc)}`)
  text(0.5, 1.14, '1 - specificity (false positive rate)')
  text(-0.15, 0.5, 'sensitivity', 'middle', true)
  for (const v of [0, 0.5, 1]) {
    text(v, 1.07, String(v))
    text(-0.03, 1 - v + 0.02, String(v), 'end')
  }
  // The operating point: the evaluation's sensitivity and specificity at the run's threshold.
  const dot = document.createElementNS(ns, 'circle')
  dot.setAttribute('cx', String(1 - evaluation.specificity))
  dot.setAttribute('cy', String(1 - evaluation.sensitivity))
  dot.setAttribute('r', '0.025')
  dot.setAttribute('fill', '#d55e00')
  svg.append(dot)
  text(1 - evaluation.specificity + 0.04, 1 - evaluation.sensitivity + 0.07, 'threshold', 'start')
  return svg
}

async function loadModel(): Promise<void> {
  const target = $('#model-card')
  try {
    const response = await fetch('api/model').catch(() => null)
    // A static export (pcam export --format web) has no API: its model.json says the same.
    const card = (
      response?.ok ? await response.json() : await (await fetch('model.json')).json()
    ) as ModelCard
    modelCard = card
    if (card.static) {
      const toggle = $<HTMLInputElement>('#in-browser')
      toggle.checked = true
      toggle.disabled = true
      toggle.dispatchEvent(new Event('change'))
    }
    classes = card.classes
    const slider = $<HTMLInputElement>('#threshold')
    slider.value = String(card.threshold)
    $<HTMLOutputElement>('#threshold-value').value = f3(card.threshold)
    // The model's own threshold: a mark on the slider, and a button back to it.
    const mark = document.createElement('option')
    mark.value = String(card.threshold)
    $('#threshold-marks').replaceChildren(mark)
    const rows: [string, string][] = [
      [
        'architecture',
        card.ensemble
          ? `ensemble of ${card.ensemble.members} ${card.arch} (${card.head} head), probabilities averaged`
          : `${card.arch} (${card.head} head)`,
      ],
      ['classes', card.classes.join(', ')],
      ['patches', `${card.patchSize}x${card.patchSize} (network input ${card.inputSize})`],
      [
        'threshold',
        Number.isNaN(Number(card.thresholdRule))
          ? `${f3(card.threshold)} (${card.thresholdRule}, chosen on the valid split)`
          : `${f3(card.threshold)} (fixed)`,
      ],
      [
        'test-time augmentation',
        card.tta === true
          ? '8 symmetries'
          : Array.isArray(card.tta)
            ? `symmetries ${card.tta.join(', ')}`
            : 'off',
      ],
      ['trained on', card.training?.source?.description ?? 'unknown'],
      ['split', card.training?.splitMethod ?? 'unknown'],
    ]
    if (card.validation)
      rows.push([
        card.ensemble ? 'validation (members at their best epochs)' : 'best validation epoch',
        `ROC AUC ${f3(card.validation.auc)}, accuracy ${f3(card.validation.accuracy)} (${card.validation.stage} ${card.validation.epoch + 1})`,
      ])
    for (const e of card.evaluations)
      rows.push([
        `evaluation ${e.name}`,
        `${e.patches} patches: ROC AUC ${f3(e.rocAuc)} (${f3(e.rocAucLow)}-${f3(e.rocAucHigh)}), ` +
          `sensitivity ${f3(e.sensitivity)}, specificity ${f3(e.specificity)}`,
      ])
    const table = element('table', {}, [
      element(
        'tbody',
        {},
        rows.map(([k, v]) => element('tr', {}, [element('th', {}, [k]), element('td', {}, [v])])),
      ),
    ])
    target.replaceChildren(table)
    const first = card.evaluations.find((e) => e.name === card.rocEvaluation)
    if (card.roc && first)
      target.append(
        element('p', {}, [`ROC curve of evaluation ${first.name}:`]),
        rocSvg(card.roc, first),
      )
  } catch (error) {
    target.replaceChildren(
      element('p', { className: 'error' }, [`Cannot read the model: ${error}`]),
    )
  }
}

/** Why heatmaps are absent, beside their control: browser mode, or results made without them. */
function explainNote(): void {
  const note = $('#explain-note')
  note.textContent = $<HTMLInputElement>('#in-browser').checked
    ? "No heatmaps in this mode: Grad-CAM runs on the server's model, not in the browser."
    : $<HTMLInputElement>('#explain').checked &&
        results.length > 0 &&
        !results.some((r) => r.heatmap)
      ? 'These results have no heatmaps; they come with the next upload.'
      : ''
  note.hidden = note.textContent === ''
}

/** Forgets the previous upload's results and errors. */
function clearResults(): void {
  for (const r of results) URL.revokeObjectURL(r.url)
  results.length = 0
  flipped.clear()
  failures.length = 0
  render()
  explainNote()
}

async function predict(files: File[]): Promise<void> {
  const upload = ++uploadNumber
  clearResults()
  // A new upload starts at the model's own threshold, whatever the last one was looked at with.
  if (modelCard) $<HTMLInputElement>('#threshold').value = String(modelCard.threshold)
  const images = files.filter((f) => IMAGE.test(f.name))
  const status = $('#status')
  status.classList.remove('error')
  if (images.length === 0) {
    status.textContent = 'No PNG, JPEG or TIFF patches among the files given.'
    return
  }
  for (let start = 0; start < images.length; start += BATCH) {
    status.textContent = `Predicting ${Math.min(start + BATCH, images.length)} of ${images.length}…`
    const answers = await predictGroup(images.slice(start, start + BATCH))
    if (upload !== uploadNumber) return
    const first = results.length === 0
    for (const answer of answers) {
      if ('error' in answer) failures.push(answer)
      else results.push(answer)
    }
    render()
    // The first results of an upload come into view: they would land below the fold.
    if (first && results.length > 0) $('#results').scrollIntoView({ block: 'start' })
  }
  status.textContent =
    `${results.length} of ${images.length} files predicted` +
    (failures.length ? `; ${failures.length} could not be (below).` : '.')
  status.classList.toggle('error', failures.length > 0)
  explainNote()
}

/** A file's name as results show it: its path inside a chosen folder, else its name. */
function fileName(file: File): string {
  return file.webkitRelativePath || file.name
}

// The API answers a request as a whole: one bad file gets 4xx for its group, which is then sent
// again one file per request, so that every file gets its own result or its own error.
async function predictGroup(files: File[]): Promise<(Result | Failure)[]> {
  if ($<HTMLInputElement>('#in-browser').checked) return predictInBrowser(files)
  const explain = $<HTMLInputElement>('#explain').checked
  const resize = $<HTMLInputElement>('#resize').checked
  const query = new URLSearchParams({ explain: explain ? '1' : '0', resize: resize ? '1' : '0' })
  const form = new FormData()
  for (const file of files) form.append('images', file, fileName(file))
  let error: string
  try {
    const response = await fetch(`api/predict?${query}`, { method: 'POST', body: form })
    const body = await response.json()
    if (response.ok)
      return body.results.map(
        (r: { name: string; probability: number; heatmap?: string }, k: number) => ({
          ...r,
          engine: 'server',
          url: URL.createObjectURL(files[k] as File),
        }),
      )
    if (files.length > 1 && response.status < 500)
      return (await Promise.all(files.map((file) => predictGroup([file])))).flat()
    // The API's advice (?resize=1) is, on this page, its checkbox.
    error = String(body.error ?? `HTTP ${response.status}`)
      .replace('(add ?resize=1 to resize)', '(tick "Resize patches of another size")')
      .replace('with ?resize=1 images', 'resized, images')
  } catch (failure) {
    error = `No answer from the server: ${failure}`
  }
  return files.map((file) => ({ name: fileName(file), error }))
}

function sorted(): Result[] {
  const key = (r: Result) => (sortKey === 'label' ? labelOf(r.probability) : r[sortKey])
  return [...results].sort((a, b) => {
    const [x, y] = [key(a), key(b)]
    const order = x < y ? -1 : x > y ? 1 : 0
    return sortDescending ? -order : order
  })
}

function render(): void {
  $('#results').hidden = results.length === 0
  const cut = threshold()
  $<HTMLOutputElement>('#threshold-value').value = f3(cut)
  const showHeatmaps = $<HTMLInputElement>('#explain').checked
  const rows = sorted()
  $('#cards').replaceChildren(
    ...rows.map((r) => {
      const pictures = element('div', { className: 'pictures' }, [
        element('img', { src: r.url, alt: `patch ${r.name}` }),
      ])
      if (r.heatmap) {
        const heat = element('img', {
          src: r.heatmap,
          alt: `Grad-CAM heatmap of ${r.name}`,
          className: 'heatmap',
        })
        // A card's own toggle outlives re-renders (the slider, sorting) until the global switch.
        heat.hidden = showHeatmaps === flipped.has(r)
        pictures.append(heat)
        const toggle = element('button', { type: 'button', textContent: 'Heatmap' })
        toggle.setAttribute('aria-pressed', String(!heat.hidden))
        toggle.addEventListener('click', () => {
          if (!flipped.delete(r)) flipped.add(r)
          heat.hidden = !heat.hidden
          toggle.setAttribute('aria-pressed', String(!heat.hidden))
        })
        return card(r, cut, pictures, toggle)
      }
      return card(r, cut, pictures)
    }),
  )
  $('#table tbody').replaceChildren(
    ...rows.map((r) =>
      element('tr', {}, [
        element('td', {}, [r.name]),
        element('td', { className: 'num' }, [f3(r.probability)]),
        element('td', {}, [labelOf(r.probability)]),
      ]),
    ),
  )
  $('#failures').replaceChildren(
    ...failures.map((f) => element('li', {}, [element('strong', {}, [f.name]), `: ${f.error}`])),
  )
  const positives = results.filter((r) => r.probability >= cut).length
  $('#summary').textContent =
    `${positives} of ${results.length} at or above the threshold (${classes[1]})`
}

function card(r: Result, cut: number, pictures: HTMLElement, toggle?: HTMLElement): HTMLElement {
  const positive = r.probability >= cut
  const figure = element('figure', { className: `card${positive ? ' positive' : ''}` }, [
    pictures,
    element('figcaption', {}, [
      element('div', { className: 'name', title: r.name }, [r.name]),
      element('div', {}, [
        element('strong', {}, [labelOf(r.probability)]),
        ` p ${f3(r.probability)}`,
      ]),
      ...(toggle ? [toggle] : []),
    ]),
  ])
  figure.dataset.probability = String(r.probability)
  return figure
}

function exportCsv(): void {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
  const lines = ['name,probability,label,threshold,engine']
  for (const r of sorted())
    lines.push(
      [quote(r.name), r.probability, quote(labelOf(r.probability)), threshold(), r.engine].join(
        ',',
      ),
    )
  const link = element('a', {
    href: URL.createObjectURL(new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' })),
    download: 'pcam-predictions.csv',
  })
  document.body.append(link)
  link.click()
  link.remove()
}

function setUp(): void {
  const drop = $('#drop')
  const files = $<HTMLInputElement>('#files')
  drop.addEventListener('click', () => files.click())
  drop.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault()
      files.click()
    }
  })
  drop.addEventListener('dragover', (event) => {
    event.preventDefault()
    drop.classList.add('over')
  })
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (event) => {
    event.preventDefault()
    drop.classList.remove('over')
    void droppedFiles(event.dataTransfer).then(predict)
  })
  for (const id of ['#files', '#folder']) {
    const input = $<HTMLInputElement>(id)
    input.addEventListener('change', () => {
      void predict([...(input.files ?? [])])
      input.value = ''
    })
  }
  $('#threshold').addEventListener('input', render)
  $('#reset-threshold').addEventListener('click', () => {
    if (!modelCard) return
    $<HTMLInputElement>('#threshold').value = String(modelCard.threshold)
    render()
  })
  // One control: it asks the server for heatmaps with the next upload and shows or hides those
  // already there. Grad-CAM needs the server's libtorch; in the browser there is none, and the
  // note beside the control says so.
  $('#in-browser').addEventListener('change', explainNote)
  $('#explain').addEventListener('change', () => {
    flipped.clear()
    explainNote()
    render()
  })
  $('#export').addEventListener('click', exportCsv)
  for (const button of document.querySelectorAll<HTMLButtonElement>('#table th button')) {
    button.addEventListener('click', () => {
      const key = button.dataset.key as typeof sortKey
      sortDescending = key === sortKey ? !sortDescending : key === 'probability'
      sortKey = key
      for (const th of document.querySelectorAll('#table th')) th.setAttribute('aria-sort', 'none')
      button.parentElement?.setAttribute('aria-sort', sortDescending ? 'descending' : 'ascending')
      render()
    })
  }
  void loadModel()
}

/** Files of a drop, folders walked recursively. */
async function droppedFiles(transfer: DataTransfer | null): Promise<File[]> {
  if (!transfer) return []
  const entries = [...transfer.items].map((i) => i.webkitGetAsEntry()).filter((e) => e !== null)
  if (entries.length === 0) return [...transfer.files]
  const out: File[] = []
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      out.push(
        await new Promise<File>((resolve, reject) =>
          (entry as FileSystemFileEntry).file(resolve, reject),
        ),
      )
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader()
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject),
        )
        if (batch.length === 0) break
        for (const child of batch) await walk(child)
      }
    }
  }
  for (const entry of entries) await walk(entry)
  return out
}

// ---- prediction inside the browser (onnxruntime-web, WebAssembly) ----------------------------

interface OrtTensor {
  data: Float32Array
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>
}
interface Ort {
  env: { wasm: { wasmPaths: string; numThreads: number } }
  Tensor: new (type: string, data: Uint8Array, dims: number[]) => unknown
  InferenceSession: { create(url: string): Promise<OrtSession> }
}

let browserModel: Promise<{ ort: Ort; session: OrtSession }> | null = null

/** onnxruntime-web and model.onnx, both from where the page came from (no CDN), loaded once. */
function loadBrowserModel(): Promise<{ ort: Ort; session: OrtSession }> {
  browserModel ??= (async () => {
    const base = new URL('.', document.baseURI).href
    const ort = (await import(`${base}ort/ort.wasm.min.mjs`)) as Ort
    ort.env.wasm.wasmPaths = `${base}ort/`
    ort.env.wasm.numThreads = 1 // threads need cross-origin isolation, which a plain server lacks
    const session = await ort.InferenceSession.create(`${base}model.onnx`)
    return { ort, session }
  })()
  return browserModel
}

/** A patch file's RGB pixels, decoded by the browser (no colour conversion). */
async function pixelsOf(file: File, size: number): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(file, {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
  })
  if (bitmap.width !== size || bitmap.height !== size)
    throw new Error(
      `${bitmap.width}x${bitmap.height} pixels; the model takes ${size}x${size} patches (in this browser patches are not resized)`,
    )
  const canvas = new OffscreenCanvas(size, size)
  const context = canvas.getContext('2d') as OffscreenCanvasRenderingContext2D
  context.drawImage(bitmap, 0, 0)
  const rgba = context.getImageData(0, 0, size, size).data
  const rgb = new Uint8Array(size * size * 3)
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i] as number
    rgb[j + 1] = rgba[i + 1] as number
    rgb[j + 2] = rgba[i + 2] as number
  }
  return rgb
}

// For each (size, k): the source pixel of every output pixel, computed once and reused per batch.
const dihedralMaps = new Map<string, Int32Array>()

function dihedralMap(size: number, k: number): Int32Array {
  const key = `${size}:${k}`
  let map = dihedralMaps.get(key)
  if (!map) {
    map = new Int32Array(size * size)
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) {
        // out[i][j] = in[y][x], composing the flip (x -> size-1-x) with k % 4 quarter turns
        let y = i
        let x = j
        for (let t = 0; t < k % 4; t++) {
          const turned = size - 1 - y
          y = x
          x = turned
        }
        if (k >= 4) x = size - 1 - x
        map[i * size + j] = y * size + x
      }
    dihedralMaps.set(key, map)
  }
  return map
}

/**
 * pcam's dihedral(): k = 0..3 quarter turns counter-clockwise, 4..7 the same after a flip;
 * written into `out` at byte `at`.
 */
function dihedralInto(rgb: Uint8Array, size: number, k: number, out: Uint8Array, at: number) {
  if (k === 0) {
    out.set(rgb, at)
    return
  }
  const map = dihedralMap(size, k)
  for (let p = 0; p < map.length; p++) {
    const from = (map[p] as number) * 3
    const to = at + p * 3
    out[to] = rgb[from] as number
    out[to + 1] = rgb[from + 1] as number
    out[to + 2] = rgb[from + 2] as number
  }
}

async function predictInBrowser(files: File[]): Promise<(Result | Failure)[]> {
  const card = modelCard
  if (!card)
    return files.map((file) => ({ name: fileName(file), error: 'The model is not loaded' }))
  const size = card.patchSize
  const answers: (Result | Failure)[] = []
  const good: { file: File; rgb: Uint8Array; at: number }[] = []
  for (const file of files) {
    try {
      good.push({ file, rgb: await pixelsOf(file, size), at: answers.length })
      answers.push({ name: fileName(file), error: '' })
    } catch (error) {
      answers.push({
        name: fileName(file),
        error: `cannot be read here: ${(error as Error).message}`,
      })
    }
  }
  if (good.length === 0) return answers
  try {
    const { ort, session } = await loadBrowserModel()
    const views = card.tta === true ? [0, 1, 2, 3, 4, 5, 6, 7] : card.tta === false ? [0] : card.tta
    const sum = new Float32Array(good.length)
    for (const k of views) {
      const batch = new Uint8Array(good.length * size * size * 3)
      good.forEach((g, n) => dihedralInto(g.rgb, size, k, batch, n * size * size * 3))
      const output = await session.run({
        images: new ort.Tensor('uint8', batch, [good.length, size, size, 3]),
      })
      const p = (output.probabilities as OrtTensor).data
      const columns = p.length / good.length
      for (let n = 0; n < good.length; n++) sum[n]! += p[n * columns + columns - 1] as number
    }
    good.forEach((g, n) => {
      answers[g.at] = {
        name: fileName(g.file),
        probability: (sum[n] as number) / views.length,
        engine: 'browser',
        url: URL.createObjectURL(g.file),
      }
    })
  } catch (error) {
    for (const g of good)
      answers[g.at] = { name: fileName(g.file), error: `In-browser prediction failed: ${error}` }
  }
  return answers
}

setUp()
