import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, startCli, stopProcess, waitForStatus, type CliProcess } from './processes.js';

export const EXAMPLE_MODELS = join(REPO_ROOT, 'examples', 'models');
export const EXAMPLE_IMAGES = join(REPO_ROOT, 'examples', 'images', 'ham10000');
export const TEST_TOKEN = 'test-cluster-token';

export interface ServerSpec {
  /** Loopback address the engine listens on, for example 127.0.0.2. */
  host: string;
}

/**
 * A cluster of real processes for end-to-end tests: one coordinator and one engine per
 * server, each started through the CLI, with state in a temporary folder.
 */
export class TestCluster {
  readonly dataDir: string;
  readonly configDir: string;
  coordinator: CliProcess | null = null;
  readonly engines = new Map<number, CliProcess>();
  apiUrl = '';
  private apiPort = 0;
  readonly enginePorts = new Map<number, number>();
  private readonly engineAddresses = new Map<number, string>();

  /** Extra flags for every engine, for example --serve-predict. */
  engineArgs: string[] = [];

  constructor(private readonly servers: ServerSpec[], private modelsToml: string) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'cascade-e2e-'));
    this.configDir = join(this.dataDir, 'config');
  }

  setModelsToml(toml: string): void {
    this.modelsToml = toml;
  }

  /** Writes the TOML files, picks free ports and starts every process. */
  async start(readyTimeoutMs = 120_000): Promise<void> {
    await this.prepare();
    await this.startCoordinator(true);
    for (const index of this.servers.keys()) this.startEngine(index);
    await this.waitReady(readyTimeoutMs);
  }

  /** Picks free ports and writes the TOML files, without starting anything. */
  async prepare(): Promise<void> {
    this.apiPort = await freePort();
    this.apiUrl = `http://127.0.0.1:${this.apiPort}`;
    for (const [index, server] of this.servers.entries()) this.enginePorts.set(index, await freePort(server.host));
    this.writeConfig();
  }

  async startCoordinator(withConfig: boolean): Promise<void> {
    const configArgs = withConfig ? ['--config', this.configDir] : [];
    this.coordinator = startCli(['coordinator', ...configArgs, '--data-dir', join(this.dataDir, 'state'), '--port', String(this.apiPort), '--token', TEST_TOKEN]);
    await waitForStatus(`${this.apiUrl}/healthz`, 200, 30_000, () => this.output());
  }

  startEngine(index: number, host?: string, port?: number): CliProcess {
    const server = this.servers[index];
    if (server === undefined) throw new Error(`no server ${index}`);
    this.engineAddresses.set(index, `${host ?? server.host}:${port ?? this.enginePorts.get(index) ?? 0}`);
    const engine = startCli([
      'engine', '--server', String(index), '--coordinator', this.apiUrl, '--token', TEST_TOKEN,
      '--host', host ?? server.host, '--port', String(port ?? this.enginePorts.get(index) ?? 0),
      '--data-dir', join(this.dataDir, 'engines'), '--threads', '1', ...this.engineArgs,
    ]);
    this.engines.set(index, engine);
    return engine;
  }

  /** host:port the engine of a server was last started on. */
  engineAddress(index: number): string {
    return this.engineAddresses.get(index) ?? `${this.servers[index]?.host ?? '127.0.0.1'}:${this.enginePorts.get(index) ?? 0}`;
  }

  waitReady(timeoutMs = 120_000): Promise<void> {
    return waitForStatus(`${this.apiUrl}/readyz`, 200, timeoutMs, () => this.output());
  }

  output(): string {
    const parts = [`[coordinator]\n${this.coordinator?.output() ?? ''}`];
    for (const [index, engine] of this.engines) parts.push(`[engine ${index}]\n${engine.output()}`);
    return parts.join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.engines.values()].map((engine) => stopProcess(engine)));
    if (this.coordinator !== null) await stopProcess(this.coordinator);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private writeConfig(): void {
    const lines = ['[Servers]', `number = ${this.servers.length}`];
    for (const [index, server] of this.servers.entries()) {
      lines.push(`[Servers.${index}]`, `ipv4 = "${server.host}"`, `port = ${this.enginePorts.get(index) ?? 0}`);
    }
    rmSync(this.configDir, { recursive: true, force: true });
    mkdirSync(this.configDir, { recursive: true });
    writeFileSync(join(this.configDir, 'servers.toml'), `${lines.join('\n')}\n`);
    writeFileSync(join(this.configDir, 'models.toml'), this.modelsToml);
  }
}
