import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadClusterConfig } from '../../src/config/load.js';
import { ClusterState } from '../../src/coordinator/cluster-state.js';
import { StateStore } from '../../src/store/state-store.js';
import { CascadeError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { EngineReport, ReplicaReport } from '../../src/shared/protocol.js';
import { REPO_ROOT } from '../support/processes.js';

const folder = mkdtempSync(join(tmpdir(), 'cascade-state-'));
const config = loadClusterConfig([join(REPO_ROOT, 'examples', 'local')]);

function replica(modelId: string, state: ReplicaReport['state']): ReplicaReport {
  const descriptor = state === 'ready' ? { id: modelId, version: `${modelId}-v1`, inputWidth: 28, inputHeight: 28, resize: 'nearest' as const, labels: ['a'] } : null;
  return { modelId, state, reason: state, configHash: 'x', descriptor };
}

function report(serverIndex: number, replicas: ReplicaReport[], overrides: Partial<EngineReport> = {}): EngineReport {
  return { engineId: `engine-${serverIndex}`, serverIndex, address: `127.0.0.${serverIndex + 2}:${7100 + serverIndex}`, startedAt: 1, replicas, routingRevision: 0, assignmentsHash: '', ...overrides };
}

function openState(name: string): { store: StateStore; state: ClusterState } {
  const store = StateStore.open(join(folder, name), silentLogger());
  const stored = store.loadCluster();
  if (stored === null) store.applyConfig(config, 'test');
  const state = new ClusterState(store, store.loadCluster() ?? config, silentLogger());
  return { store, state };
}

describe('ClusterState', () => {
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('assigns each server its models', () => {
    const { store, state } = openState('assign');
    const reply = state.handleReport(report(0, []));
    assert.deepEqual(reply.assignments?.map((assignment) => assignment.model.id), ['basic']);
    const second = state.handleReport(report(1, []));
    assert.deepEqual(second.assignments?.map((assignment) => assignment.model.id).sort(), ['second-1', 'second-6']);
    store.close();
  });

  it('routes only to ready replicas on engines that are up', () => {
    const { store, state } = openState('route');
    state.handleReport(report(0, [replica('basic', 'loading')]));
    assert.deepEqual(state.routingTable().routes.basic?.replicas, []);
    state.handleReport(report(0, [replica('basic', 'ready')]));
    assert.deepEqual(state.routingTable().routes.basic?.replicas, [{ serverIndex: 0, address: '127.0.0.2:7100' }]);
    assert.equal(state.routingTable().categories['6'], 'second-6');
    assert.equal(state.routingTable().categories['1'], 'second-1');
    store.close();
  });

  it('omits unchanged assignments and routing from replies', () => {
    const { store, state } = openState('quiet');
    const first = state.handleReport(report(0, [replica('basic', 'ready')]));
    assert.ok(first.assignments !== undefined);
    assert.ok(first.routing !== undefined);
    const again = state.handleReport(report(0, [replica('basic', 'ready')], { assignmentsHash: first.assignmentsHash, routingRevision: first.routing.revision }));
    assert.equal(again.assignments, undefined);
    assert.equal(again.routing, undefined);
    store.close();
  });

  it('keeps a second live engine as a standby', () => {
    const { store, state } = openState('standby');
    const startedAt = Date.now();
    state.handleReport(report(0, [], { engineId: 'first', address: '127.0.0.2:7100' }), startedAt);
    assert.throws(
      () => state.handleReport(report(0, [], { engineId: 'second', address: '127.0.0.9:7100' }), startedAt + 100),
      (error) => error instanceof CascadeError && error.code === 'ENGINE_CONFLICT' && error.message.includes('engine first at 127.0.0.2:7100'),
    );
    assert.equal(state.listEngines()[0]?.address, '127.0.0.2:7100', 'the live engine keeps the server');
    state.handleReport(report(0, [], { engineId: 'restarted', address: '127.0.0.2:7100' }), startedAt + 200);
    assert.equal(state.listEngines()[0]?.engineId, 'restarted', 'a restart at the same address is accepted at once');
    state.handleReport(report(0, [], { engineId: 'second', address: '127.0.0.9:7100' }), startedAt + 10_000);
    assert.equal(state.listEngines()[0]?.address, '127.0.0.9:7100', 'the standby takes over once the first is silent');
    store.close();
  });

  it('replaces the config while running', () => {
    const { store, state } = openState('replace');
    const first = state.handleReport(report(0, [replica('basic', 'ready')]));
    const [firstSecond, ...otherSecond] = config.second;
    assert.ok(firstSecond !== undefined);
    const next = { ...config, basic: { ...config.basic, source: '/models/basic-v2.h5' }, second: otherSecond };
    const change = state.replaceConfig(next);
    assert.deepEqual(change, { added: [], changed: ['basic'], removed: [firstSecond.id] });
    const reply = state.handleReport(report(0, [replica('basic', 'ready')], { assignmentsHash: first.assignmentsHash }));
    assert.notEqual(reply.assignmentsHash, first.assignmentsHash);
    assert.equal(reply.assignments?.find((assignment) => assignment.model.id === 'basic')?.model.source, '/models/basic-v2.h5');
    store.close();
  });

  it('keeps a moved model until ready', () => {
    const { store, state } = openState('move');
    const moved = config.second.find((model) => model.id === 'second-1');
    assert.ok(moved !== undefined);
    assert.deepEqual(moved.parents, [1], 'the example places second-1 on server 1 only');
    state.handleReport(report(0, [replica('basic', 'ready')]));
    const before = state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')]));
    state.replaceConfig({ ...config, second: config.second.map((model) => (model.id === 'second-1' ? { ...model, parents: [0] } : model)) });

    const during = state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')], { assignmentsHash: before.assignmentsHash }));
    assert.equal(during.assignments, undefined, 'server 1 keeps second-1 while server 0 loads it');
    assert.deepEqual(state.routingTable().routes['second-1']?.replicas.map((entry) => entry.serverIndex), [1]);

    state.handleReport(report(0, [replica('basic', 'ready'), replica('second-1', 'ready')]));
    const after = state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')], { assignmentsHash: before.assignmentsHash }));
    assert.deepEqual(after.assignments?.map((assignment) => assignment.model.id), ['second-6'], 'server 1 unloads second-1 once server 0 serves it');
    assert.deepEqual(state.routingTable().routes['second-1']?.replicas.map((entry) => entry.serverIndex), [0]);
    store.close();
  });

  it('sends routing only to engines that want it', () => {
    const { store, state } = openState('wants-routing');
    const silent = state.handleReport(report(0, [replica('basic', 'ready')], { wantsRouting: false }));
    const serving = state.handleReport(report(1, [replica('second-0', 'ready')], { wantsRouting: true }));
    const older = state.handleReport(report(1, [replica('second-0', 'ready')]));
    assert.ok(silent.assignments !== undefined, 'assignments still go to every engine');
    assert.equal(silent.routing, undefined);
    assert.ok(serving.routing !== undefined);
    assert.ok(older.routing !== undefined, 'a report without the field gets the table');
    store.close();
  });

  it('marks a silent engine down and drops its replicas from routing', () => {
    const { store, state } = openState('sweep');
    const reportedAt = Date.now();
    state.handleReport(report(0, [replica('basic', 'ready')]), reportedAt);
    state.sweep(reportedAt + config.timing.engineDownAfterMs - 1);
    assert.equal(state.listEngines()[0]?.state, 'up');
    state.sweep(reportedAt + config.timing.engineDownAfterMs + 1);
    assert.equal(state.listEngines()[0]?.state, 'down');
    assert.match(state.listEngines()[0]?.reason ?? '', /no report for/);
    assert.deepEqual(state.routingTable().routes.basic?.replicas, []);
    assert.equal(store.listEngines()[0]?.state, 'down', 'the change is stored');
    store.close();
  });

  it('follows and stores a new address', () => {
    const { store, state } = openState('address');
    state.handleReport(report(0, [replica('basic', 'ready')]));
    state.handleReport(report(0, [replica('basic', 'ready')], { address: '127.0.0.9:7300' }));
    assert.deepEqual(state.routingTable().routes.basic?.replicas, [{ serverIndex: 0, address: '127.0.0.9:7300' }]);
    assert.deepEqual(store.listServers()[0], { index: 0, ipv4: '127.0.0.9', port: 7300, name: 'server-0' });
    assert.ok(store.listEvents(10).some((event) => event.subject === 'server/0' && event.state === 'address-changed'));
    store.close();
  });

  it('trusts nothing from before a restart', () => {
    const first = openState('restart');
    first.state.handleReport(report(0, [replica('basic', 'ready')]));
    first.state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')]));
    first.store.close();

    const { store, state } = openState('restart');
    assert.deepEqual(state.listEngines().map((engine) => engine.state), ['joining', 'joining']);
    assert.equal(state.routingSettled(), false);
    const reply = state.handleReport(report(0, [replica('basic', 'ready')]));
    assert.equal(reply.routing, undefined, 'no table is pushed before every engine reported');
    state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')]));
    assert.equal(state.routingSettled(), true);
    assert.equal(state.routingTable().routes['second-6']?.replicas.length, 1);
    store.close();
  });

  it('rejects a report for an unknown server', () => {
    const { store, state } = openState('unknown');
    assert.throws(() => state.handleReport(report(7, [])), (error) => error instanceof CascadeError && error.code === 'REQUEST_INVALID' && /7/.test(error.message));
    store.close();
  });

  it('rejects reports from a replaced engine', () => {
    const { store, state } = openState('replaced');
    const startedAt = Date.now();
    state.handleReport(report(0, [], { engineId: 'old', address: '127.0.0.2:7100' }), startedAt);
    // The old engine has been silent for ten seconds, so the new one takes over.
    state.handleReport(report(0, [], { engineId: 'new', address: '127.0.0.9:7100' }), startedAt + 10_000);
    assert.throws(
      () => state.handleReport(report(0, [], { engineId: 'old', address: '127.0.0.2:7100' }), startedAt + 10_100),
      (error) => error instanceof CascadeError && error.code === 'ENGINE_REPLACED' && error.message.includes('engine new at 127.0.0.9:7100'),
    );
    state.handleReport(report(0, [], { engineId: 'new', address: '127.0.0.9:7100' }), startedAt + 10_200);
    assert.equal(state.listEngines().find((engine) => engine.serverIndex === 0)?.address, '127.0.0.9:7100');
    assert.equal(state.cluster.servers.find((server) => server.index === 0)?.ipv4, '127.0.0.9');
    store.close();
  });
});

describe('routing on the wire', () => {
  it('round-trips through the compact form', async () => {
    const { compactRoutingTable, expandRoutingTable } = await import('../../src/shared/routing-wire.js');
    const { store, state } = openState('wire');
    state.handleReport(report(0, [replica('basic', 'ready')]));
    state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'loading')]));
    const table = state.routingTable();
    assert.deepEqual(expandRoutingTable(compactRoutingTable(table)), table);
    store.close();
  });

  it('serializes a reply with the table once per revision', () => {
    const { store, state } = openState('serialize');
    const reply = state.handleReport(report(0, [replica('basic', 'ready')]));
    const parsed: unknown = JSON.parse(state.serializeReply(reply));
    assert.deepEqual(parsed, JSON.parse(JSON.stringify(reply)));
    const quiet = state.handleReport(report(0, [replica('basic', 'ready')], { assignmentsHash: reply.assignmentsHash, routingRevision: reply.routing?.revision ?? 0 }));
    assert.equal(state.serializeReply(quiet).includes('"routing"'), false);
    store.close();
  });

  it('forgets replicas an engine stops reporting', () => {
    const { store, state } = openState('forget');
    state.handleReport(report(1, [replica('second-1', 'ready'), replica('second-6', 'ready')]));
    state.handleReport(report(1, [replica('second-1', 'ready')]));
    assert.deepEqual(state.listReplicas().map((entry) => entry.modelId), ['second-1']);
    assert.deepEqual(store.listReplicas().map((entry) => entry.modelId), ['second-1']);
    assert.equal(state.routingTable().routes['second-6']?.replicas.length, 0);
    store.close();
  });
});

describe('mass silence', () => {
  it('leaves most of a large fleet up when it falls silent at once', () => {
    const servers = Array.from({ length: 12 }, (_, index) => ({ index, ipv4: `10.0.0.${index + 1}`, port: 7100, name: `server-${index}` }));
    const big = { ...config, servers, basic: { ...config.basic, parents: [0] }, second: [] };
    const store = StateStore.open(join(folder, 'mass'), silentLogger());
    store.applyConfig(big, 'test');
    const state = new ClusterState(store, big, silentLogger());
    const start = Date.now();
    for (const server of servers) state.handleReport(report(server.index, [], { address: `10.0.0.${server.index + 1}:7100` }), start);
    const late = start + big.timing.engineDownAfterMs + 1;
    state.handleReport(report(0, [], { address: '10.0.0.1:7100' }), late);
    state.sweep(late);
    assert.equal(state.listEngines().filter((engine) => engine.state === 'down').length, 0, '11 of 12 silent at once: none marked down');

    for (const server of servers.slice(0, 10)) state.handleReport(report(server.index, [], { address: `10.0.0.${server.index + 1}:7100` }), late);
    state.sweep(late);
    assert.deepEqual(state.listEngines().filter((engine) => engine.state === 'down').map((engine) => engine.serverIndex), [10, 11], 'a minority silent: marked down');
    store.close();
  });
});
