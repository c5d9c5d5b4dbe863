import { CascadeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { fetchRemoteFile } from './download.js';
import { interpretDrivePage, type DrivePage } from './drive-page.js';
import { HttpClient, assertSuccessStatus, discardBody, isHtmlResponse, type OpenedResponse } from './http-client.js';
import { parseModelRefAs } from './ref.js';
import type { FetchRequest, FetchedFile, ModelSource, SourceSettings } from './types.js';

/** Warning pages followed before giving up. Drive normally serves one. */
const MAX_CONFIRMATION_PAGES = 3;
/** Largest HTML page read when looking for the confirmation form. Real pages are a few KiB. */
const MAX_HTML_BYTES = 2 * 1024 * 1024;

/**
 * Downloads files shared from Google Drive through `uc?export=download`, confirming the
 * virus-scan warning page for large files. An HTML response is never saved as a model.
 */
export class DriveSource implements ModelSource {
  readonly kind = 'gdrive' as const;
  private readonly settings: SourceSettings;

  constructor(settings: SourceSettings) {
    this.settings = settings;
  }

  async fetch(request: FetchRequest): Promise<FetchedFile> {
    const { driveId } = parseModelRefAs(request.ref, 'gdrive');
    const shownRef = `gdrive:${driveId}`;
    const baseUrl = this.settings.driveBaseUrl;

    return fetchRemoteFile(
      { kind: 'gdrive', cacheKey: shownRef, shownRef, open: (client, logger) => openDriveFile(client, baseUrl, driveId, logger) },
      request,
      this.settings,
    );
  }
}

/** Builds Drive's direct download URL for a file id, under `baseUrl`. */
export function driveDownloadUrl(baseUrl: string, driveId: string): URL {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/uc`);
  url.searchParams.set('export', 'download');
  url.searchParams.set('id', driveId);
  return url;
}

async function openDriveFile(client: HttpClient, baseUrl: string, driveId: string, logger: Logger): Promise<OpenedResponse> {
  let url = driveDownloadUrl(baseUrl, driveId);

  for (let pagesSeen = 0; pagesSeen <= MAX_CONFIRMATION_PAGES; pagesSeen++) {
    const response = await client.open(url);
    await assertDriveStatus(response, driveId);
    if (!isHtmlResponse(response)) return response;

    const html = await readHtml(response);
    const page = interpretDrivePage(html, response.url, client.findCookie(response.url.host, 'download_warning'));
    if (page.kind !== 'confirmation') throw pageError(page, driveId);

    logger.debug({ driveId, pagesSeen: pagesSeen + 1 }, 'Drive returned its virus-scan warning page, confirming the download');
    url = page.nextUrl;
  }

  throw new CascadeError(
    'MODEL_FETCH_FAILED',
    `Google Drive returned its virus-scan warning page for file ${driveId} ${MAX_CONFIRMATION_PAGES + 1} times in a row. ` +
      'Download it once in a browser to check the link, or host the model at a URL or local path.',
    { driveId },
  );
}

/** Drive responds 401, 403 or 404 for a file that is private, deleted or never existed. */
async function assertDriveStatus(response: OpenedResponse, driveId: string): Promise<void> {
  const status = response.statusCode;
  if (status === 401 || status === 403 || status === 404) {
    await discardBody(response.body);
    throw notSharedError(driveId, `HTTP ${status}`);
  }
  await assertSuccessStatus(response, `gdrive:${driveId}`);
}

/** Reads an HTML response as text, stopping at MAX_HTML_BYTES. */
async function readHtml(response: OpenedResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let byteCount = 0;
  for await (const chunk of response.body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    byteCount += buffer.length;
    if (byteCount >= MAX_HTML_BYTES) break;
  }
  // Leaving the loop early destroys the body, which is what we want for an oversized page.
  return Buffer.concat(chunks).toString('utf8');
}

function pageError(page: Exclude<DrivePage, { kind: 'confirmation' }>, driveId: string): CascadeError {
  const titled = page.title === null || page.title === '' ? 'an HTML page' : `an HTML page titled '${page.title}'`;

  if (page.kind === 'not-shared') return notSharedError(driveId, titled);
  if (page.kind === 'quota-exceeded') {
    return new CascadeError(
      'MODEL_FETCH_FAILED',
      `Google Drive refused file ${driveId} because its download quota is used up (it returned ${titled}). ` +
        'Try again later, or host the model at a URL or local path.',
      { driveId },
    );
  }
  return new CascadeError(
    'MODEL_FETCH_FAILED',
    `Google Drive returned ${titled} for file ${driveId} instead of the file, so nothing was saved. ` +
      'Check that the id in `model` names a file, not a folder or a Google Docs document.',
    { driveId },
  );
}

function notSharedError(driveId: string, response: string): CascadeError {
  return new CascadeError(
    'MODEL_NOT_SHARED',
    `Google Drive file ${driveId} is not shared publicly (Drive returned ${response}). ` +
      "In Google Drive, open the file's Share dialog and set General access to 'Anyone with the link', " +
      'then fetch again. Also check that the id in `model` is correct.',
    { driveId },
  );
}
