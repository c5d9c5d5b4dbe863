import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CascadeError } from '../shared/errors.js';

/** A model ref sorted into the source that can fetch it. */
export type ParsedModelRef =
  | { kind: 'local'; path: string }
  | { kind: 'http'; url: URL }
  | { kind: 'gdrive'; driveId: string };

/** Shape of a bare Google Drive file id, the form users' configuration files use today. */
export const DRIVE_ID_PATTERN = /^[A-Za-z0-9_-]{20,}$/;

const DRIVE_PREFIX = 'gdrive:';
const DRIVE_ID_CHARS = /^[A-Za-z0-9_-]+$/;
const DRIVE_HOSTS = new Set(['drive.google.com', 'docs.google.com', 'drive.usercontent.google.com']);
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

export const ACCEPTED_REF_FORMS =
  'an http(s) URL, a Google Drive file id (e.g. 1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5), ' +
  "'gdrive:<id>', a Google Drive share link (https://drive.google.com/file/d/<id>/view), " +
  'or the path of an existing local file';

/**
 * Sorts a `model` value into local path, http(s) URL or Google Drive file.
 *
 * Drive share links and `gdrive:` refs win over plain URLs, and an existing file wins
 * over a Drive id of the same spelling. An absolute path is accepted even when it does
 * not exist yet, so that the local source reports the missing file when it fetches.
 * Throws MODEL_FETCH_FAILED when the value matches none of the accepted forms.
 */
export function parseModelRef(ref: string): ParsedModelRef {
  const value = ref.trim();
  if (value === '') throw unrecognisedRef(ref, 'the value is empty');

  if (value.startsWith(DRIVE_PREFIX)) return parsePrefixedDriveRef(ref, value.slice(DRIVE_PREFIX.length));
  if (/^https?:\/\//i.test(value)) return parseUrlRef(ref, value);
  if (/^file:\/\//i.test(value)) return { kind: 'local', path: fileURLToPath(value) };
  if (URL_SCHEME.test(value)) throw unrecognisedRef(ref, 'only http, https and file URLs are supported');

  if (existsSync(value) || isAbsolute(value)) return { kind: 'local', path: value };
  if (DRIVE_ID_PATTERN.test(value)) return { kind: 'gdrive', driveId: value };

  throw unrecognisedRef(ref, `no local file exists at ${resolve(value)}`);
}

/**
 * Parses `ref` and checks that it belongs to the source of `kind`. Sources call it so
 * that a ref handed to the wrong source fails with a message instead of a wrong fetch.
 */
export function parseModelRefAs<K extends ParsedModelRef['kind']>(ref: string, kind: K): Extract<ParsedModelRef, { kind: K }> {
  const parsed = parseModelRef(ref);
  if (isRefOfKind(parsed, kind)) return parsed;
  throw new CascadeError(
    'MODEL_FETCH_FAILED',
    `Model source '${ref}' is a ${parsed.kind} ref, but the ${kind} source was asked to fetch it. Create the source with createSource(ref).`,
    { ref },
  );
}

function isRefOfKind<K extends ParsedModelRef['kind']>(parsed: ParsedModelRef, kind: K): parsed is Extract<ParsedModelRef, { kind: K }> {
  return parsed.kind === kind;
}

/**
 * Extracts the file id from a Google Drive share or download link, or returns null when
 * the URL is not a Drive file link. Handles `/file/d/<id>/...`, `open?id=<id>`,
 * `uc?id=<id>` and `drive.usercontent.google.com/download?id=<id>`.
 */
export function driveIdFromUrl(url: URL): string | null {
  if (!DRIVE_HOSTS.has(url.hostname.toLowerCase())) return null;

  const pathMatch = /^\/file\/d\/([A-Za-z0-9_-]+)(?:\/|$)/.exec(url.pathname);
  if (pathMatch?.[1] !== undefined) return pathMatch[1];

  const queryId = url.searchParams.get('id');
  const isIdEndpoint = ['/open', '/uc', '/download'].includes(url.pathname);
  if (isIdEndpoint && queryId !== null && DRIVE_ID_CHARS.test(queryId)) return queryId;
  return null;
}

/** Formats a ref for logs and messages without the query string, which may carry a token. */
export function displayRef(parsed: ParsedModelRef): string {
  if (parsed.kind === 'local') return parsed.path;
  if (parsed.kind === 'gdrive') return `${DRIVE_PREFIX}${parsed.driveId}`;
  const query = parsed.url.search === '' ? '' : '?…';
  return `${parsed.url.origin}${parsed.url.pathname}${query}`;
}

function parsePrefixedDriveRef(ref: string, driveId: string): ParsedModelRef {
  if (!DRIVE_ID_CHARS.test(driveId)) {
    throw unrecognisedRef(ref, "the id after 'gdrive:' may contain only letters, digits, '-' and '_'");
  }
  return { kind: 'gdrive', driveId };
}

function parseUrlRef(ref: string, value: string): ParsedModelRef {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw unrecognisedRef(ref, 'the URL cannot be parsed');
  }

  const driveId = driveIdFromUrl(url);
  if (driveId !== null) return { kind: 'gdrive', driveId };
  if (DRIVE_HOSTS.has(url.hostname.toLowerCase())) {
    throw unrecognisedRef(ref, 'the Google Drive link names no file (folder links are not supported)');
  }
  return { kind: 'http', url };
}

function unrecognisedRef(ref: string, reason: string): CascadeError {
  return new CascadeError(
    'MODEL_FETCH_FAILED',
    `Model source '${ref}' is not recognised: ${reason}. Set \`model\` to ${ACCEPTED_REF_FORMS}.`,
    { ref },
  );
}
