/**
 * A loopback HTTP server that responds like Google Drive's download endpoints, for the
 * Drive source tests, because the real Drive is out of reach from test machines.
 *
 * Endpoints:
 * - `GET /uc?export=download&id=ID[&confirm=TOKEN]`: Drive's classic download URL;
 * - `GET /download?id=ID&export=download&confirm=t&uuid=UUID`: the target of the
 *   virus-scan warning form (drive.usercontent.google.com on the real service);
 * - `GET /ServiceLogin`: the sign-in page private files redirect to.
 * An unknown id gets 404.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type MockDriveMode =
  /** The file itself, as Drive serves files small enough to virus-scan. */
  | 'direct'
  /** The current warning page: a `download-form` leading to `/download` with `confirm` and `uuid`. */
  | 'confirm'
  /** The older warning page: a link to `/uc?...&confirm=TOKEN`. */
  | 'confirm-link'
  /** The oldest variant: a page with no form or link, and a `download_warning_*` cookie holding the token. */
  | 'confirm-cookie'
  /** A warning page whose form leads back to another warning page, forever. */
  | 'confirm-loop'
  /** A private file: a redirect to the sign-in page. */
  | 'not-shared'
  /** A private file: a 200 "You need access" page. */
  | 'no-access'
  /** HTTP 403. */
  | 'forbidden'
  /** The "Too many users have viewed or downloaded this file" page. */
  | 'quota'
  /** An HTML page of no kind listed above. */
  | 'html'
  /** The first `failures` requests get `failureStatus` (503 unless set), later ones the file. */
  | 'flaky'
  /** The first `failures` requests send half the body and drop the connection, then the file. */
  | 'truncated';

export interface MockDriveFile {
  bytes: Buffer;
  mode: MockDriveMode;
  /** Failing requests before success in `flaky` and `truncated` modes: default 2, Infinity for never. */
  failures?: number;
  /** Status of the failing responses in `flaky` mode, 503 by default. */
  failureStatus?: number;
  /** Retry-After header sent with the failing responses in `flaky` mode. */
  retryAfter?: string;
}

export interface MockDrive {
  /** Value for `driveBaseUrl`, e.g. `http://127.0.0.1:40123`. */
  baseUrl: string;
  close(): Promise<void>;
  /** Requests that named this file id, on any endpoint. */
  requestCount(id: string): number;
}

interface FileState {
  file: MockDriveFile;
  uuid: string;
  token: string;
  failuresLeft: number;
}

export async function startMockDrive(files: Record<string, MockDriveFile>): Promise<MockDrive> {
  const states = new Map<string, FileState>();
  for (const [id, file] of Object.entries(files)) {
    states.set(id, { file, uuid: randomUUID(), token: `tok${id.slice(0, 6)}`, failuresLeft: file.failures ?? 2 });
  }
  const counts = new Map<string, number>();

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const id = url.searchParams.get('id');
    if (id !== null) counts.set(id, (counts.get(id) ?? 0) + 1);
    route(url, id, request, response, states);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = addressOf(server.address());

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requestCount: (id) => counts.get(id) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}

function route(url: URL, id: string | null, request: IncomingMessage, response: ServerResponse, states: Map<string, FileState>): void {
  if (url.pathname === '/ServiceLogin') return sendHtml(response, 200, signInPage());

  const state = id === null ? undefined : states.get(id);
  if (id === null || state === undefined) return sendHtml(response, 404, errorPage('Not Found'));

  if (url.pathname === '/uc') return handleUc(url, id, state, request, response);
  if (url.pathname === '/download') return handleUserContent(url, id, state, response);
  sendHtml(response, 404, errorPage('Not Found'));
}

function handleUc(url: URL, id: string, state: FileState, request: IncomingMessage, response: ServerResponse): void {
  const { file } = state;
  switch (file.mode) {
    case 'direct':
      return sendFile(response, file.bytes);
    case 'confirm':
    case 'confirm-loop':
      return sendHtml(response, 200, warningFormPage(id, state.uuid));
    case 'confirm-link':
      if (url.searchParams.get('confirm') === state.token) return sendFile(response, file.bytes);
      return sendHtml(response, 200, warningLinkPage(id, state.token));
    case 'confirm-cookie':
      return handleCookieVariant(url, id, state, request, response);
    case 'not-shared':
      response.writeHead(302, { location: `/ServiceLogin?continue=${encodeURIComponent(url.href)}` });
      return void response.end();
    case 'no-access':
      return sendHtml(response, 200, noAccessPage());
    case 'forbidden':
      return sendHtml(response, 403, errorPage('Forbidden'));
    case 'quota':
      return sendHtml(response, 200, quotaPage());
    case 'html':
      return sendHtml(response, 200, '<!DOCTYPE html><html><head><title>Google Drive</title></head><body><p>Preview</p></body></html>');
    case 'flaky':
      return handleFlaky(state, response);
    case 'truncated':
      return handleTruncated(state, response);
  }
}

function handleUserContent(url: URL, id: string, state: FileState, response: ServerResponse): void {
  const confirmed = url.searchParams.get('confirm') === 't' && url.searchParams.get('uuid') === state.uuid;
  if (state.file.mode === 'confirm' && confirmed) return sendFile(response, state.file.bytes);
  sendHtml(response, 200, warningFormPage(id, state.uuid));
}

function handleCookieVariant(url: URL, id: string, state: FileState, request: IncomingMessage, response: ServerResponse): void {
  const cookieName = `download_warning_13058876669334088843_${id}`;
  const sentCookie = (request.headers.cookie ?? '').includes(`${cookieName}=${state.token}`);
  if (url.searchParams.get('confirm') === state.token && sentCookie) return sendFile(response, state.file.bytes);

  response.setHeader('set-cookie', [`${cookieName}=${state.token}; Path=/; HttpOnly`, 'NID=abc; Path=/']);
  sendHtml(response, 200, '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body><p>Google Drive can&#39;t scan this file for viruses.</p></body></html>');
}

function handleFlaky(state: FileState, response: ServerResponse): void {
  if (state.failuresLeft <= 0) return sendFile(response, state.file.bytes);
  state.failuresLeft -= 1;
  const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
  if (state.file.retryAfter !== undefined) headers['retry-after'] = state.file.retryAfter;
  response.writeHead(state.file.failureStatus ?? 503, headers);
  response.end('<html><body>Service Unavailable</body></html>');
}

function handleTruncated(state: FileState, response: ServerResponse): void {
  if (state.failuresLeft <= 0) return sendFile(response, state.file.bytes);
  state.failuresLeft -= 1;
  const { bytes } = state.file;
  response.writeHead(200, fileHeaders(bytes.length));
  response.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => response.socket?.destroy());
}

function sendFile(response: ServerResponse, bytes: Buffer): void {
  response.writeHead(200, fileHeaders(bytes.length));
  response.end(bytes);
}

function fileHeaders(length: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-disposition': 'attachment; filename="model.h5"',
    'content-length': String(length),
  };
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  response.end(html);
}

function warningFormPage(id: string, uuid: string): string {
  return `<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
<meta http-equiv="content-type" content="text/html; charset=utf-8"/></head>
<body><!-- <form id="download-form" action="/decoy"></form> -->
<div class="uc-main"><div id="uc-text">
<p class="uc-warning-caption">Google Drive can&#39;t scan this file for viruses.</p>
<p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id=${id}">model.h5</a> (245M)</span>
is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="${id}">
<input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t">
<input type="hidden" name='uuid' value='${uuid}'>
</form></div></div></body></html>`;
}

function warningLinkPage(id: string, token: string): string {
  return `<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<a href="/open?id=${id}">model.h5</a>
<a id="uc-download-link" class="goog-inline-block jfk-button" href="/uc?export=download&amp;confirm=${token}&amp;id=${id}">Download anyway</a>
</body></html>`;
}

function signInPage(): string {
  return `<!DOCTYPE html><html><head><title>Sign in - Google Accounts</title></head><body>
<form action="/ServiceLogin" method="post"><input type="email" name="identifier"></form></body></html>`;
}

function noAccessPage(): string {
  return `<!DOCTYPE html><html><head><title>Google Drive</title></head><body>
<h1>You need access</h1><p>Ask for access, or switch to an account with access.</p>
<button>Request access</button></body></html>`;
}

function quotaPage(): string {
  return `<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<p>Sorry, you can't view or download this file at this time.</p>
<p>Too many users have viewed or downloaded this file recently. Please try accessing the file again later.</p>
</body></html>`;
}

function errorPage(title: string): string {
  return `<!DOCTYPE html><html><head><title>Error ${title}</title></head><body><p>${title}</p></body></html>`;
}

function addressOf(address: string | AddressInfo | null): AddressInfo {
  if (address === null || typeof address === 'string') throw new Error('mock Drive server has no TCP address');
  return address;
}
