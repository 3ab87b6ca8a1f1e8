import { DOMImplementation, DOMParser, XMLSerializer, type Document, type Element, type Node } from '@xmldom/xmldom';

/** The namespaces a SAML IdP speaks. */
export const NS = {
  md: 'urn:oasis:names:tc:SAML:2.0:metadata',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
  mdattr: 'urn:oasis:names:tc:SAML:metadata:attribute',
  mdui: 'urn:oasis:names:tc:SAML:metadata:ui',
  psc: 'http://id.swedenconnect.se/authn/1.0/principal-selection/ns',
  xs: 'http://www.w3.org/2001/XMLSchema',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xml: 'http://www.w3.org/XML/1998/namespace',
  xmlns: 'http://www.w3.org/2000/xmlns/',
} as const;

/** A document we refuse to read, with the reason (logged; never shown with the document's content). */
export class XmlRefused extends Error {
  override readonly name = 'XmlRefused';
}

/** Attribute names that identify an element for signature references (xml-crypto resolves `Id`, `ID` and `id`). */
const ID_ATTRIBUTES = ['ID', 'Id', 'id'] as const;

const ELEMENT_NODE = 1;
const PROCESSING_INSTRUCTION_NODE = 7;
const DOCUMENT_TYPE_NODE = 10;
const ENTITY_REFERENCE_NODE = 5;

/**
 * Parses XML that came from outside, strictly: no DOCTYPE (so no entities,
 * external or expanding), no processing instructions (a canonicalizer may
 * render one as text), exactly one root element, every warning fatal, and no
 * two elements with the same ID (signature wrapping hides a second element
 * under a signed element's ID).
 */
export function parseStrict(text: string, maxBytes: number): Document {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new XmlRefused(`XML larger than ${maxBytes} bytes`);
  // Refused before parsing: a DOCTYPE is where entity tricks live, whatever the parser would do with them.
  if (/<!DOCTYPE/i.test(text)) throw new XmlRefused('XML with a DOCTYPE');
  if (/<!ENTITY/i.test(text)) throw new XmlRefused('XML with an entity declaration');
  let doc: Document;
  try {
    doc = new DOMParser({
      locator: false,
      onError: (level, message) => {
        throw new XmlRefused(`XML not well-formed (${level}): ${String(message).split('\n')[0]}`);
      },
    }).parseFromString(text, 'text/xml');
  } catch (error) {
    if (error instanceof XmlRefused) throw error;
    const cause = (error as { cause?: unknown }).cause;
    throw new XmlRefused(cause instanceof XmlRefused ? cause.message : `XML not well-formed: ${(error as Error).message.split('\n')[0]}`);
  }
  const roots = Array.from(doc.childNodes).filter((n) => n.nodeType === ELEMENT_NODE);
  if (roots.length !== 1) throw new XmlRefused(`XML with ${roots.length} root elements`);
  const ids = new Set<string>();
  const visit = (node: Node): void => {
    if (node.nodeType === DOCUMENT_TYPE_NODE) throw new XmlRefused('XML with a DOCTYPE');
    if (node.nodeType === ENTITY_REFERENCE_NODE) throw new XmlRefused('XML with an entity reference');
    if (node.nodeType === PROCESSING_INSTRUCTION_NODE) throw new XmlRefused('XML with a processing instruction');
    if (node.nodeType === ELEMENT_NODE) {
      const element = node as Element;
      for (const name of ID_ATTRIBUTES) {
        const id = element.getAttribute(name);
        if (id === null) continue;
        if (ids.has(id)) throw new XmlRefused(`XML with two elements of ID ${JSON.stringify(id.slice(0, 80))}`);
        ids.add(id);
      }
    }
    for (const child of Array.from(node.childNodes)) visit(child);
  };
  for (const [index, child] of Array.from(doc.childNodes).entries()) {
    // The XML declaration is the one processing-instruction-like node allowed, and only first.
    if (index === 0 && child.nodeType === PROCESSING_INSTRUCTION_NODE && (child as unknown as { target: string }).target === 'xml') continue;
    visit(child);
  }
  return doc;
}

/** Child elements of `parent` named `ns`:`localName`, in document order. */
export function children(parent: Element, ns: string, localName: string): Element[] {
  return Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === ELEMENT_NODE && (n as Element).namespaceURI === ns && (n as Element).localName === localName);
}

/** The one child element so named, or null; two are refused (a schema allows at most one of each we read this way). */
export function child(parent: Element, ns: string, localName: string): Element | null {
  const found = children(parent, ns, localName);
  if (found.length > 1) throw new XmlRefused(`${parent.localName} has ${found.length} ${localName} elements`);
  return found[0] ?? null;
}

/** Descendant elements of `parent` named `ns`:`localName`, in document order. */
export function descendants(parent: Element, ns: string, localName: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(ns, localName));
}

/** Every child element, whatever its name. */
export function elementChildren(parent: Element): Element[] {
  return Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === ELEMENT_NODE);
}

/**
 * The text of an element that must hold only text: a comment or a child
 * element inside it is refused, so a value can never be read differently by
 * two readers (one skipping the comment, one stopping at it).
 */
export function textOf(element: Element): string {
  let text = '';
  for (const node of Array.from(element.childNodes)) {
    if (node.nodeType === 3 || node.nodeType === 4) text += (node as unknown as { data: string }).data;
    else throw new XmlRefused(`${element.localName} holds more than text`);
  }
  return text;
}

/** Characters XML 1.0 cannot carry (C0 controls except tab, newline, carriage return; lone surrogates; U+FFFE/U+FFFF). */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A value made safe to carry: characters XML cannot hold become U+FFFD (the serializer escapes the rest). */
export function xmlSafe(value: string): string {
  return value.replace(NOT_XML, '\uFFFD');
}

type Child = Node | string | null | undefined | false;

/**
 * Builds XML through a DOM, never by pasting strings: every value passes
 * through the serializer's escaping.
 */
export function xmlBuilder(rootNs: string, rootName: string) {
  const doc = new DOMImplementation().createDocument(rootNs, rootName, null);
  const make = (ns: string, qualifiedName: string, attributes: Record<string, string | number | boolean | undefined> = {}, content: Child[] = []): Element => {
    const element = doc.createElementNS(ns, qualifiedName);
    fill(element, attributes, content);
    return element;
  };
  const fill = (element: Element, attributes: Record<string, string | number | boolean | undefined>, content: Child[]) => {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined) continue;
      if (name === 'xml:lang') element.setAttributeNS(NS.xml, name, xmlSafe(String(value)));
      else if (name.startsWith('xmlns:')) element.setAttributeNS(NS.xmlns, name, String(value));
      else if (name.startsWith('xsi:')) element.setAttributeNS(NS.xsi, name, xmlSafe(String(value)));
      else element.setAttribute(name, xmlSafe(String(value)));
    }
    for (const item of content) {
      if (item === null || item === undefined || item === false) continue;
      element.appendChild(typeof item === 'string' ? doc.createTextNode(xmlSafe(item)) : item);
    }
  };
  return {
    doc,
    root: doc.documentElement!,
    /** Our own serialized XML (already signed or encrypted) as nodes of this document. */
    adopt: (xml: string): Element => doc.importNode(new DOMParser().parseFromString(xml, 'text/xml').documentElement!, true) as Element,
    el: make,
    /** Sets attributes and children on the root. */
    fillRoot: (attributes: Record<string, string | number | boolean | undefined>, content: Child[]) => fill(doc.documentElement!, attributes, content),
    serialize: () => serialize(doc),
  };
}

/**
 * The XML of a node. A carriage return in text is written `&#xD;` (xmldom
 * writes it raw, and a parser would read it back as a line feed): the text
 * parses back to exactly this DOM, which a signature made on the DOM needs.
 */
export function serialize(node: Node): string {
  return new XMLSerializer().serializeToString(node, { requireWellFormed: true }).replace(/\r/g, '&#xD;');
}
