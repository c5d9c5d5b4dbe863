/**
 * Finds the line of each table header and key in a TOML text, so that error messages
 * can point at it. smol-toml returns plain values without positions, so this scans the
 * text again. It runs only on text that smol-toml has already parsed, which lets it skip
 * full TOML grammar: it reads headers, keys and multi-line strings, nothing else.
 */

export type KeyPath = readonly (string | number)[];

export class KeyLines {
  private readonly lineByPath = new Map<string, number>();

  /** Records the first line where a path appears; later mentions keep the first one. */
  record(path: readonly string[], line: number): void {
    const key = pathKey(path);
    if (!this.lineByPath.has(key)) this.lineByPath.set(key, line);
  }

  /**
   * Returns the 1-based line of `path`, or of its closest ancestor when the path itself
   * is absent (a missing key points at its table header), or null when nothing matches.
   */
  lineOf(path: KeyPath): number | null {
    for (let length = path.length; length > 0; length -= 1) {
      const line = this.lineByPath.get(pathKey(path.slice(0, length)));
      if (line !== undefined) return line;
    }
    return null;
  }
}

/** Indexes the header and key lines of a TOML text that smol-toml has parsed. */
export function indexKeyLines(text: string): KeyLines {
  const index = new KeyLines();
  let table: string[] = [];
  let openString: string | null = null;
  const lines = text.split(/\r?\n/);

  lines.forEach((raw, position) => {
    const lineNumber = position + 1;
    if (openString !== null) {
      if (raw.includes(openString)) openString = null;
      return;
    }
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) return;

    if (line.startsWith('[')) {
      const header = readHeader(line);
      if (header === null) return;
      table = header;
      recordWithPrefixes(index, table, lineNumber);
      return;
    }

    const assignment = readDottedKey(line, 0, '=');
    if (assignment === null) return;
    recordWithPrefixes(index, [...table, ...assignment.segments], lineNumber);
    openString = findUnclosedMultilineString(line.slice(assignment.end));
  });
  return index;
}

function recordWithPrefixes(index: KeyLines, path: readonly string[], line: number): void {
  for (let length = 1; length <= path.length; length += 1) {
    index.record(path.slice(0, length), line);
  }
}

function readHeader(line: string): string[] | null {
  const start = line.startsWith('[[') ? 2 : 1;
  const key = readDottedKey(line, start, ']');
  return key === null ? null : key.segments;
}

interface DottedKey {
  segments: string[];
  /** Index just past the terminator (`=` or `]`). */
  end: number;
}

/** Reads `a."b c".d` up to `terminator`; returns null when the line is not a key. */
function readDottedKey(line: string, start: number, terminator: string): DottedKey | null {
  const segments: string[] = [];
  let position = start;
  for (;;) {
    position = skipSpaces(line, position);
    const segment = readKeySegment(line, position);
    if (segment === null) return null;
    segments.push(segment.value);
    position = skipSpaces(line, segment.end);
    const next = line[position];
    if (next === terminator) return { segments, end: position + 1 };
    if (next !== '.') return null;
    position += 1;
  }
}

function readKeySegment(line: string, start: number): { value: string; end: number } | null {
  const quote = line[start];
  if (quote === '"' || quote === "'") {
    const close = findClosingQuote(line, start + 1, quote);
    if (close < 0) return null;
    const body = line.slice(start + 1, close);
    return { value: quote === '"' ? unescapeBasic(body) : body, end: close + 1 };
  }
  const bare = /^[A-Za-z0-9_-]+/.exec(line.slice(start));
  if (bare === null) return null;
  return { value: bare[0], end: start + bare[0].length };
}

function findClosingQuote(line: string, from: number, quote: string): number {
  for (let position = from; position < line.length; position += 1) {
    const char = line[position];
    if (quote === '"' && char === '\\') {
      position += 1;
      continue;
    }
    if (char === quote) return position;
  }
  return -1;
}

function unescapeBasic(body: string): string {
  try {
    const value: unknown = JSON.parse(`"${body}"`);
    return typeof value === 'string' ? value : body;
  } catch {
    // TOML escapes that JSON lacks (\e, \UXXXXXXXX) are rare in keys; keep them as written.
    return body;
  }
}

function skipSpaces(line: string, position: number): number {
  let next = position;
  while (line[next] === ' ' || line[next] === '\t') next += 1;
  return next;
}

/**
 * Returns the delimiter of a multi-line string value that does not close on the same
 * line, so the scanner skips the string's lines. Only a value that starts with the
 * delimiter counts, which keeps quotes inside ordinary strings from opening one.
 */
function findUnclosedMultilineString(value: string): string | null {
  const trimmed = value.trimStart();
  for (const delimiter of ['"""', "'''"]) {
    if (!trimmed.startsWith(delimiter)) continue;
    const closing = trimmed.indexOf(delimiter, delimiter.length);
    return closing < 0 ? delimiter : null;
  }
  return null;
}

function pathKey(path: KeyPath): string {
  return path.map(String).join('\u0000');
}
