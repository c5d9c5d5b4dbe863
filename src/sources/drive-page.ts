/**
 * Reads the HTML pages Google Drive serves in place of a file.
 *
 * For a file too large to virus-scan, Drive responds to `uc?export=download` with a
 * warning page instead of the bytes. Current pages carry a form `id="download-form"` whose
 * action (usually `https://drive.usercontent.google.com/download`) and hidden inputs
 * (`id`, `export`, `confirm`, `uuid`) make the real download URL. Older pages carry a
 * link with `confirm=<token>` in its query, and older still set a `download_warning*`
 * cookie whose value is the token. Files that are not shared publicly get a sign-in or
 * "You need access" page, and files over their daily quota get a "Too many users" page.
 *
 * The parsing is a small tag scanner rather than a full HTML parser: it finds start
 * tags and their attributes, skipping comments and script bodies, which is all these
 * pages need.
 */

export type DrivePage =
  | { kind: 'confirmation'; nextUrl: URL }
  | { kind: 'not-shared'; title: string | null }
  | { kind: 'quota-exceeded'; title: string | null }
  | { kind: 'unknown'; title: string | null };

interface HtmlTag {
  name: string;
  attributes: Map<string, string>;
  /** Offset just past the tag's `>` in the scanned text. */
  end: number;
}

const SIGN_IN_MARKERS = [/ServiceLogin/, /<title[^>]*>[^<]*Sign[ -]in/i];
const NO_ACCESS_MARKERS = [/You need access/i, /Request access/i, /(?:do not|don't) have permission/i];
const QUOTA_MARKERS = [/Too many users have viewed or downloaded this file/i, /download quota/i, /quota (?:has been )?exceeded/i];

/**
 * Classifies an HTML response from Drive. `pageUrl` is the URL that served it,
 * after redirects, and `warningToken` the value of a `download_warning*` cookie it set.
 */
export function interpretDrivePage(html: string, pageUrl: URL, warningToken: string | null): DrivePage {
  const nextUrl = confirmationUrl(html, pageUrl, warningToken);
  if (nextUrl !== null) return { kind: 'confirmation', nextUrl };

  const title = pageTitle(html);
  const isSignIn = pageUrl.hostname === 'accounts.google.com' || SIGN_IN_MARKERS.some((marker) => marker.test(html));
  if (isSignIn || NO_ACCESS_MARKERS.some((marker) => marker.test(html))) return { kind: 'not-shared', title };
  if (QUOTA_MARKERS.some((marker) => marker.test(html))) return { kind: 'quota-exceeded', title };
  return { kind: 'unknown', title };
}

/** Returns the URL that confirms the download, or null when the page offers none. */
export function confirmationUrl(html: string, pageUrl: URL, warningToken: string | null): URL | null {
  const markup = stripCommentsAndScripts(html);
  const fromForm = urlFromDownloadForm(markup, pageUrl);
  if (fromForm !== null) return fromForm;

  const fromLink = urlFromConfirmLink(markup, pageUrl);
  if (fromLink !== null) return fromLink;

  if (warningToken === null) return null;
  const fromCookie = new URL(pageUrl);
  fromCookie.searchParams.set('confirm', warningToken);
  return fromCookie;
}

/** Returns the decoded text of the page's `<title>`, or null when it has none. */
export function pageTitle(html: string): string | null {
  const match = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html);
  if (match?.[1] === undefined) return null;
  return decodeEntities(match[1]).replace(/\s+/g, ' ').trim();
}

function urlFromDownloadForm(markup: string, pageUrl: URL): URL | null {
  const form = scanTags(markup, ['form']).find((tag) => tag.attributes.get('id') === 'download-form');
  if (form === undefined) return null;

  const closing = markup.toLowerCase().indexOf('</form', form.end);
  const body = markup.slice(form.end, closing === -1 ? markup.length : closing);
  const url = resolveHttpUrl(form.attributes.get('action') ?? '', pageUrl);
  if (url === null) return null;

  for (const input of scanTags(body, ['input'])) {
    const name = input.attributes.get('name');
    if (name === undefined || name === '') continue;
    url.searchParams.set(name, input.attributes.get('value') ?? '');
  }
  return url;
}

function urlFromConfirmLink(markup: string, pageUrl: URL): URL | null {
  for (const link of scanTags(markup, ['a'])) {
    const href = link.attributes.get('href');
    if (href === undefined || !/[?&]confirm=[^&]+/.test(href)) continue;
    const url = resolveHttpUrl(href, pageUrl);
    if (url !== null) return url;
  }
  return null;
}

/** Resolves `href` against the page. Returns null for anything but http(s), e.g. `javascript:`. */
function resolveHttpUrl(href: string, pageUrl: URL): URL | null {
  let url: URL;
  try {
    url = new URL(href, pageUrl);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

/** Finds start tags with the given names, with attribute names lowercased and values decoded. */
function scanTags(markup: string, names: string[]): HtmlTag[] {
  // A quoted attribute value may contain '>', so the tag body alternates quoted and bare runs.
  const tagPattern = /<([A-Za-z][A-Za-z0-9-]*)((?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?)\/?>/g;
  const wanted = new Set(names);
  const tags: HtmlTag[] = [];

  for (const match of markup.matchAll(tagPattern)) {
    const name = (match[1] ?? '').toLowerCase();
    if (!wanted.has(name)) continue;
    tags.push({ name, attributes: parseAttributes(match[2] ?? ''), end: match.index + match[0].length });
  }
  return tags;
}

function parseAttributes(text: string): Map<string, string> {
  const attributePattern = /([^\s"'=<>`/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const attributes = new Map<string, string>();
  for (const match of text.matchAll(attributePattern)) {
    const name = (match[1] ?? '').toLowerCase();
    const raw = match[2] ?? match[3] ?? match[4] ?? '';
    if (!attributes.has(name)) attributes.set(name, decodeEntities(raw));
  }
  return attributes;
}

function stripCommentsAndScripts(html: string): string {
  return html.replace(/<!--[\s\S]*?-->/g, '').replace(/<script\b[\s\S]*?<\/script\s*>/gi, '');
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Decodes the character references that occur in Drive's attribute values and titles. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole: string, entity: string) => {
    if (entity.startsWith('#x') || entity.startsWith('#X')) return fromCodePoint(parseInt(entity.slice(2), 16), whole);
    if (entity.startsWith('#')) return fromCodePoint(parseInt(entity.slice(1), 10), whole);
    return NAMED_ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function fromCodePoint(codePoint: number, fallback: string): string {
  return Number.isInteger(codePoint) && codePoint >= 0 && codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : fallback;
}
