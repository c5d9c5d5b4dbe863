import { CascadeError } from '../shared/errors.js';
import { fetchRemoteFile } from './download.js';
import { HttpClient, assertSuccessStatus, describeUrl, discardBody, isHtmlResponse, type OpenedResponse } from './http-client.js';
import { displayRef, parseModelRefAs } from './ref.js';
import type { FetchRequest, FetchedFile, ModelSource, SourceSettings } from './types.js';

/** Downloads model files from plain http(s) URLs into the cache. */
export class HttpSource implements ModelSource {
  readonly kind = 'http' as const;
  private readonly settings: SourceSettings;

  constructor(settings: SourceSettings) {
    this.settings = settings;
  }

  async fetch(request: FetchRequest): Promise<FetchedFile> {
    const parsed = parseModelRefAs(request.ref, 'http');
    const shownRef = displayRef(parsed);

    return fetchRemoteFile(
      { kind: 'http', cacheKey: parsed.url.href, shownRef, open: (client) => openHttpFile(client, parsed.url, shownRef) },
      request,
      this.settings,
    );
  }
}

async function openHttpFile(client: HttpClient, url: URL, shownRef: string): Promise<OpenedResponse> {
  const response = await client.open(url);
  await assertSuccessStatus(response, shownRef);
  if (!isHtmlResponse(response)) return response;

  // Model files are never HTML. An HTML response is a login, error or preview page.
  await discardBody(response.body);
  throw new CascadeError(
    'MODEL_FETCH_FAILED',
    `${describeUrl(response.url)} returned an HTML page instead of a model file, so nothing was saved. ` +
      'Set `model` to the URL of the file itself, not of a web page about it.',
    { ref: shownRef },
  );
}
