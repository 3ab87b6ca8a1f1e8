import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { NS, XmlRefused, parseStrict, serialize, textOf, xmlBuilder } from './xml.ts';

const LIMIT = 64 * 1024;
const refused = (xml: string, reason: RegExp) => assert.throws(() => parseStrict(xml, LIMIT), (error: unknown) => error instanceof XmlRefused && reason.test(error.message));

describe('strict XML parsing', () => {
  it('reads a well-formed document with one root', () => {
    const doc = parseStrict('<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:x" ID="_1"><b ID="_2">t</b></a>', LIMIT);
    assert.equal(doc.documentElement!.localName, 'a');
  });

  it('refuses DOCTYPEs, internal and external entities and entity expansion', () => {
    refused('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /DOCTYPE/);
    refused('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', /DOCTYPE/);
    refused('<!doctype a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>', /DOCTYPE/);
    refused('<a>&undeclared;</a>', /not well-formed/);
  });

  it('refuses processing instructions, several roots, text after the root and malformed XML', () => {
    refused('<a><?evil data?></a>', /processing instruction/);
    refused('<a/><b/>', /not well-formed|2 root/);
    refused('<a/>text', /not well-formed/);
    refused('<a><b></a>', /not well-formed/);
    refused('<a xmlns:p="urn:p"><q:b/></a>', /not well-formed/);
    refused('', /not well-formed|0 root/);
  });

  it('refuses two elements with the same ID, under any of the names a signature reference resolves', () => {
    refused('<a ID="_1"><b ID="_1"/></a>', /two elements of ID/);
    refused('<a ID="_1"><b Id="_1"/></a>', /two elements of ID/);
    refused('<a><b id="x"/><c><d ID="x"/></c></a>', /two elements of ID/);
  });

  it('refuses a document over the size limit before parsing it', () => {
    assert.throws(() => parseStrict(`<a>${'x'.repeat(100)}</a>`, 50), /larger than 50 bytes/);
  });

  it('reads a value only when it is plain text: a comment or element inside it is refused', () => {
    const doc = parseStrict('<a><n>user@example.com<!---->.evil.com</n><m>plain &amp; <![CDATA[cdata]]></m><k>x<b/></k></a>', LIMIT);
    const [n, m, k] = Array.from(doc.documentElement!.childNodes) as unknown as Parameters<typeof textOf>[0][];
    assert.throws(() => textOf(n!), /more than text/);
    assert.equal(textOf(m!), 'plain & cdata');
    assert.throws(() => textOf(k!), /more than text/);
  });
});

describe('building XML through a DOM', () => {
  it('carries hostile values as data, never as markup, and reads them back unchanged', () => {
    const hostile = ['<script>', 'a & b', `"quoted" 'single'`, ']]>', '</saml:NameID><saml:NameID>admin', 'Åsa Öberg-Ängström '.repeat(200), 'tab\there\nnewline'];
    const b = xmlBuilder(NS.saml, 'saml:Test');
    b.fillRoot({ Value: hostile.join('|') }, hostile.map((value) => b.el(NS.saml, 'saml:V', { Name: value }, [value])));
    const xml = b.serialize();
    const root = parseStrict(xml, 1 << 20).documentElement!;
    const values = Array.from(root.childNodes) as unknown as Parameters<typeof textOf>[0][];
    assert.deepEqual(values.map(textOf), hostile);
    assert.deepEqual(values.map((v) => v.getAttribute('Name')), hostile);
    assert.equal(root.getAttribute('Value'), hostile.join('|'));
  });

  it('replaces characters XML cannot carry, so the output is always well-formed', () => {
    const b = xmlBuilder(NS.saml, 'saml:Test');
    b.fillRoot({ A: 'bell\u0007' }, ['nul\u0000 esc\u001b lone\uD800 fffe\uFFFE ok😀']);
    // Our strict reader refuses U+FFFD in input (a sign of broken encoding), so a plain one reads it back.
    const root = new DOMParser({ onError: (level, message) => assert.ok(level === 'warning' && /replacement character/.test(message), message) }).parseFromString(serialize(b.doc), 'text/xml').documentElement!;
    assert.equal(textOf(root), 'nul\uFFFD esc\uFFFD lone\uFFFD fffe\uFFFD ok😀');
    assert.equal(root.getAttribute('A'), 'bell\uFFFD');
  });
});
