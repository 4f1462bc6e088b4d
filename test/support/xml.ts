/**
 * A small XML reader for tests: enough of XML 1.0 and its namespaces to say
 * whether a generated document (SCXML, SVG) is well-formed, and to look into
 * it. Throws on: a tag that does not close or closes the wrong element, an
 * attribute twice or unquoted, a bare `&` or `<`, an undeclared namespace
 * prefix, `--` inside a comment, text or a second element outside the root.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/y;
const ATTRIBUTE = /\s+([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*=\s*"([^"<]*)"/y;
const REFERENCE = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

function fail(what: string, at: number): never {
  throw new Error(`not well-formed XML: ${what} at offset ${at}`);
}

function checkText(text: string, at: number): void {
  if (REFERENCE.test(text)) fail('a bare & (not an entity reference)', at);
}

export function parseXml(source: string): XmlElement {
  let at = source.startsWith('<?xml') ? source.indexOf('?>') + 2 : 0;
  if (at === 1) fail('an unterminated XML declaration', 0);
  const stack: Array<{ element: XmlElement; prefixes: Set<string> }> = [];
  let root: XmlElement | undefined;
  while (at < source.length) {
    const next = source.indexOf('<', at);
    const text = source.slice(at, next === -1 ? source.length : next);
    checkText(text, at);
    const open = stack[stack.length - 1];
    if (open !== undefined) open.element.text += text;
    else if (text.trim() !== '') fail('text outside the root element', at);
    if (next === -1) break;
    at = next;
    if (source.startsWith('<!--', at)) {
      const end = source.indexOf('-->', at + 4);
      if (end === -1 || source.slice(at + 4, end).includes('--')) fail('a bad comment', at);
      at = end + 3;
    } else if (source.startsWith('</', at)) {
      NAME.lastIndex = at + 2;
      const name = NAME.exec(source)?.[0];
      const closing = stack.pop();
      if (name === undefined || closing?.element.name !== name)
        fail(`</${name}> closes <${closing?.element.name}>`, at);
      at = NAME.lastIndex;
      const end = source.indexOf('>', at);
      if (end === -1 || source.slice(at, end).trim() !== '') fail('a bad end tag', at);
      at = end + 1;
    } else {
      const { element, end, selfClosing, prefixes } = startTag(source, at, stack[stack.length - 1]?.prefixes);
      if (stack.length === 0 && root !== undefined) fail('a second root element', at);
      if (stack.length === 0) root = element;
      stack[stack.length - 1]?.element.children.push(element);
      if (!selfClosing) stack.push({ element, prefixes });
      at = end;
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]?.element.name}> never closes`, source.length);
  if (root === undefined) fail('no root element', 0);
  return root;
}

function startTag(source: string, start: number, inherited: Set<string> | undefined) {
  NAME.lastIndex = start + 1;
  const name = NAME.exec(source)?.[0];
  if (name === undefined) fail('a < that starts no tag', start);
  let at = NAME.lastIndex;
  const attributes: Record<string, string> = {};
  for (;;) {
    ATTRIBUTE.lastIndex = at;
    const match = ATTRIBUTE.exec(source);
    if (match === null) break;
    const [, key, value] = match as unknown as [string, string, string];
    if (key in attributes) fail(`attribute ${key} twice`, at);
    checkText(value, at);
    attributes[key] = value;
    at = ATTRIBUTE.lastIndex;
  }
  const rest = /\s*(\/?)>/y;
  rest.lastIndex = at;
  const close = rest.exec(source);
  if (close === null) fail(`a bad start tag <${name}`, at);
  const prefixes = new Set(inherited ?? ['xml']);
  for (const key of Object.keys(attributes)) if (key.startsWith('xmlns:')) prefixes.add(key.slice(6));
  for (const used of [name, ...Object.keys(attributes)]) {
    const prefix = used.includes(':') ? used.split(':')[0] : undefined;
    if (prefix !== undefined && prefix !== 'xmlns' && !prefixes.has(prefix)) fail(`undeclared prefix ${prefix}`, at);
  }
  const element: XmlElement = { name, attributes, children: [], text: '' };
  return { element, end: rest.lastIndex, selfClosing: close[1] === '/', prefixes };
}

/** Every element below (and including) `root`, in document order. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}

/** The text of an element and everything inside it. */
export function textOf(element: XmlElement): string {
  return element.text + element.children.map(textOf).join('');
}
