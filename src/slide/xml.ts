/**
 * The XML that annotation tools write (ASAP, Camelyon16): elements and attributes, nothing more.
 * Text content, comments, processing instructions and the doctype are skipped; entities are the
 * five predefined ones and numeric references (no DTD entities, so no entity expansion bombs).
 * Malformed input is an Error naming the line.
 * @module
 */

export interface XmlElement {
  name: string
  attributes: Record<string, string>
  children: XmlElement[]
}

/** Deepest nesting accepted: ASAP's is 4; a deeper file is not annotations. */
const MAX_DEPTH = 64

const NAME = /[A-Za-z_:][\w.:-]*/y
const ATTRIBUTE = /\s+([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

const BARE_AMPERSAND = /&(?!(?:amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});)/

function unescape(value: string): string {
  if (!value.includes('&')) return value
  if (BARE_AMPERSAND.test(value))
    throw new Error(`an "&" that starts no entity in "${value.slice(0, 40)}"`)
  return value.replace(ENTITY, (_, named: string, dec: string, hex: string) => {
    if (named) return NAMED[named] as string
    const code = dec ? Number(dec) : Number.parseInt(hex, 16)
    return code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd'
  })
}

/** The document's root element. */
export function parseXml(text: string): XmlElement {
  let at = 0
  const line = () => text.slice(0, at).split('\n').length
  const fail = (what: string): never => {
    throw new Error(`${what} at line ${line()}`)
  }
  const stack: XmlElement[] = []
  let root: XmlElement | null = null
  while (at < text.length) {
    const open = text.indexOf('<', at)
    if (open < 0) break
    at = open
    if (text.startsWith('<?', at) || text.startsWith('<!--', at)) {
      const end = text.indexOf(text.startsWith('<?', at) ? '?>' : '-->', at + 2)
      if (end < 0) fail('an unclosed comment or declaration')
      at = end + 2
      continue
    }
    if (text.startsWith('<![CDATA[', at)) {
      const end = text.indexOf(']]>', at)
      if (end < 0) fail('an unclosed CDATA section')
      at = end + 3
      continue
    }
    if (text.startsWith('<!', at)) {
      // <!DOCTYPE ...> without an internal subset; one with [...] is refused (entities).
      const end = text.indexOf('>', at)
      if (end < 0 || text.slice(at, end).includes('[')) fail('a DOCTYPE pcam does not read')
      at = end + 1
      continue
    }
    const closing = text[at + 1] === '/'
    NAME.lastIndex = at + (closing ? 2 : 1)
    const name = NAME.exec(text)?.[0]
    if (!name) fail('a "<" that starts no element')
    at = NAME.lastIndex
    if (closing) {
      const gt = /\s*>/y
      gt.lastIndex = at
      if (!gt.exec(text)) fail(`a malformed </${name}>`)
      at = gt.lastIndex
      const top = stack.pop()
      if (!top || top.name !== name) fail(`</${name}> closes ${top ? `<${top.name}>` : 'nothing'}`)
      continue
    }
    const element: XmlElement = { name: name as string, attributes: {}, children: [] }
    for (;;) {
      ATTRIBUTE.lastIndex = at
      const match = ATTRIBUTE.exec(text)
      if (!match) break
      element.attributes[match[1] as string] = unescape(match[2] ?? match[3] ?? '')
      at = ATTRIBUTE.lastIndex
    }
    const end = /\s*(\/?)>/y
    end.lastIndex = at
    const tail = end.exec(text)
    if (!tail) fail(`a malformed <${name}> tag`)
    at = end.lastIndex
    const parent = stack.at(-1)
    if (parent) parent.children.push(element)
    else if (root) fail('a second root element')
    else root = element
    if (tail?.[1] !== '/') {
      stack.push(element)
      if (stack.length > MAX_DEPTH) fail(`elements nested more than ${MAX_DEPTH} deep`)
    }
  }
  if (stack.length > 0) fail(`<${stack.at(-1)?.name}> is never closed`)
  if (!root) throw new Error('no element')
  return root
}
