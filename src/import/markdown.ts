/**
 * Markdown -> the pieces an importer reads, each with its source line: code blocks, inline code and
 * prose (paragraphs, list items, table rows, headings), each under the heading it sits in. Parsed by
 * micromark (mdast-util-from-markdown, with GFM tables), never by matching lines, so a fence inside a
 * list item, a table cell's code and an unclosed fence are read as a markdown reader reads them.
 */
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { gfmTable } from 'micromark-extension-gfm-table';
import type { Nodes, Parent, RootContent } from 'mdast';

/**
 * A runbook is a few hundred lines (the longest seed is 16 KB). Parsed section by section, the import takes
 * time in proportion to the text: 3.5 s of CPU for 1 MB on the loaded 2-core test machine (npm run
 * bench:import), so 2 MB is read in seconds; far above any real runbook, and a stray 10 MB upload is refused
 * at once, naming the limit, instead of holding the CLI for a minute.
 */
export const MAX_MARKDOWN_BYTES = 2 * 1024 * 1024;

export class ImportRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportRefused';
  }
}

export interface Section {
  title: string;
  line: number;
  depth: number;
  /** Titles from the top heading down to this one. */
  path: string[];
}

export type Piece =
  | { kind: 'code'; lang: string; text: string; line: number; section: Section | null; step: string | null; unclosed: boolean }
  | { kind: 'inline'; text: string; line: number; before: string; section: Section | null; step: string | null }
  | { kind: 'prose'; text: string; line: number; section: Section | null; heading: boolean };

/** Refuses what is not a markdown runbook at all, with the reason, before anything is parsed. */
export function readMarkdownText(bytes: Buffer, file: string): string {
  if (bytes.length === 0) throw new ImportRefused(`${file} is empty: there is nothing to import`);
  if (bytes.length > MAX_MARKDOWN_BYTES) {
    throw new ImportRefused(`${file} is ${(bytes.length / 1024 / 1024).toFixed(1)} MB; the importer reads markdown runbooks up to ${MAX_MARKDOWN_BYTES / 1024 / 1024} MB`);
  }
  if (bytes.includes(0)) throw new ImportRefused(`${file} is not a text file (it holds NUL bytes); give the markdown runbook`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  // Replacement characters where the bytes were not UTF-8: a binary or another encoding.
  const invalid = (text.match(/\uFFFD/g) ?? []).length;
  if (invalid > 8 && invalid > text.length / 100) throw new ImportRefused(`${file} is not a text file (it is not UTF-8); give the markdown runbook`);
  if (text.trim() === '') throw new ImportRefused(`${file} holds only white space: there is nothing to import`);
  return text;
}

function plainText(node: Nodes): string {
  if (node.type === 'text' || node.type === 'inlineCode') return node.value;
  if (node.type === 'break') return ' ';
  if ('children' in node) return (node.children as Nodes[]).map(plainText).join(node.type === 'tableRow' ? ' | ' : '');
  return '';
}

/**
 * The text cut before each top-level heading (`#` or `##` at the start of a line, outside a fence), each part
 * with the line it starts on. micromark's time grows faster than the text (a 1 MB file took 44 times as long
 * as 100 KB, measured by npm run bench:import), while a runbook's sections are small; such a heading ends
 * every block a section could leave open (a paragraph, a list, a quote), so each part parses as it would
 * in the whole. Inside a fence nothing is cut; nor inside an HTML comment, which a heading does not end.
 */
export function sectionsOf(text: string): { text: string; firstLine: number }[] {
  const lines = text.split('\n');
  const parts: { text: string; firstLine: number }[] = [];
  let fence: string | null = null;
  let comment = false;
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== null) {
      if (opener && opener[0] === fence[0] && opener.length >= fence.length && line.trim() === opener) fence = null;
      continue;
    }
    if (opener) {
      fence = opener;
      continue;
    }
    if (comment) {
      if (line.includes('-->')) comment = false;
      continue;
    }
    if (/<!--/.test(line) && !/<!--[\s\S]*-->/.test(line)) comment = true;
    if (i > start && /^#{1,2}(\s|$)/.test(line)) {
      parts.push({ text: lines.slice(start, i).join('\n'), firstLine: start + 1 });
      start = i;
    }
  }
  parts.push({ text: lines.slice(start).join('\n'), firstLine: start + 1 });
  return parts;
}

/** Positions of a part's nodes are counted from its own first line: moved to the file's lines. */
function shiftLines(node: Nodes, by: number): void {
  if (node.position) {
    node.position.start.line += by;
    node.position.end.line += by;
  }
  if ('children' in node) for (const child of node.children as Nodes[]) shiftLines(child, by);
}

/** The markdown's pieces in document order. */
export function readMarkdown(text: string): Piece[] {
  const children: RootContent[] = [];
  for (const part of sectionsOf(text)) {
    const tree = fromMarkdown(part.text, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
    shiftLines(tree, part.firstLine - 1);
    children.push(...tree.children);
  }
  const lines = text.split('\n');
  const pieces: Piece[] = [];
  const headings: Section[] = [];
  const current = (): Section | null => headings.at(-1) ?? null;

  const visit = (node: RootContent, step: string | null): void => {
    const line = node.position?.start.line ?? 0;
    switch (node.type) {
      case 'heading': {
        while (headings.length > 0 && headings.at(-1)!.depth >= node.depth) headings.pop();
        const title = plainText(node).trim();
        headings.push({ title, line, depth: node.depth, path: [...headings.map((h) => h.title), title] });
        pieces.push({ kind: 'prose', text: title, line, section: current(), heading: true });
        visitInline(node, step);
        return;
      }
      case 'code': {
        const endLine = node.position?.end.line ?? line;
        // An unclosed fence runs to the end of the file: the parser says so only by where it ends.
        const fenced = /^(```|~~~)/.test((lines[line - 1] ?? '').trim());
        const unclosed = fenced && (endLine === line || !/^(```+|~~~+)\s*$/.test((lines[endLine - 1] ?? '').trim()));
        pieces.push({ kind: 'code', lang: (node.lang ?? '').toLowerCase(), text: node.value, line: fenced ? line + 1 : line, section: current(), step, unclosed });
        return;
      }
      case 'paragraph':
      case 'tableRow':
        pieces.push({ kind: 'prose', text: plainText(node).replace(/\s+/g, ' ').trim(), line, section: current(), heading: false });
        visitInline(node, step);
        return;
      case 'listItem': {
        const first = node.children[0];
        const label = node.spread !== undefined && first?.type === 'paragraph' ? plainText(first).trim() : step;
        for (const child of node.children) visit(child, label);
        return;
      }
      default:
        if ('children' in node) for (const child of (node as Parent).children) visit(child as RootContent, step);
    }
  };

  const visitInline = (parent: Parent, step: string | null): void => {
    let before = '';
    const walk = (node: Nodes): void => {
      if (node.type === 'inlineCode') {
        pieces.push({ kind: 'inline', text: node.value, line: node.position?.start.line ?? 0, before, section: current(), step });
        before += node.value;
        return;
      }
      if (node.type === 'text') before += node.value;
      if ('children' in node) for (const child of node.children as Nodes[]) walk(child);
    };
    for (const child of parent.children as Nodes[]) walk(child);
  };

  for (const node of children) visit(node, null);
  return pieces;
}
