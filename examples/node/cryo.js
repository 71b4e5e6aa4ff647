'use strict';
// A Cryo client for Node.js built only from the .proto files in proto/: no generated code, no
// Java. Every service of package cryo.v1 found there becomes a client, so a new service (for
// example ImageService for save/restore) is usable here as soon as its .proto file lands:
//
//   const cryo = connect('127.0.0.1:7600');
//   await cryo.unary('DomainService', 'listDomains', {});
//   cryo.services.ImageService.saveDomain(...)   // once proto/.../image.proto exists

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto', 'src', 'main', 'proto');

/** Loads every cryo/v1/*.proto; returns the cryo.v1 package object of grpc-js. */
function loadApi(protoRoot = PROTO_ROOT) {
  const dir = path.join(protoRoot, 'cryo', 'v1');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.proto')).sort()
    .map((f) => `cryo/v1/${f}`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [protoRoot],
    // proto3 JSON style: lowerCamelCase fields, enum names as strings, 64-bit ints as strings
    // (uint64 memory_bytes does not fit a JS number in general).
    keepCase: false,
    enums: String,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).cryo.v1;
}

/**
 * Connects to a Cryo server (plaintext, like the Java SDK's default).
 * @returns {{services: Object<string, grpc.Client>, unary: Function, close: Function}}
 */
function connect(target, { deadlineMs = 120_000 } = {}) {
  const api = loadApi();
  const services = {};
  let channel;
  for (const [name, ctor] of Object.entries(api)) {
    if (typeof ctor === 'function' && ctor.service) {
      // All clients share one channel, so one connection carries every service.
      const client = channel
        ? new ctor(target, grpc.credentials.createInsecure(), { channelOverride: channel })
        : new ctor(target, grpc.credentials.createInsecure());
      channel = channel || client.getChannel();
      services[name] = client;
    }
  }

  /** Calls a unary method; resolves with the response, rejects with a CryoError. */
  function unary(service, method, request, { timeoutMs = deadlineMs } = {}) {
    const client = services[service];
    if (!client || typeof client[method] !== 'function') {
      return Promise.reject(new Error(`no method ${service}.${method} in ${PROTO_ROOT}`));
    }
    return new Promise((resolve, reject) => {
      client[method](request, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) {
          reject(new CryoError(err));
        } else {
          resolve(response);
        }
      });
    });
  }

  function close() {
    for (const client of Object.values(services)) {
      client.close();
    }
  }

  return { services, unary, close };
}

/** A failed call: code is the gRPC status name (NOT_FOUND, FAILED_PRECONDITION, ...). */
class CryoError extends Error {
  constructor(err) {
    super(err.details || err.message);
    this.code = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) || 'UNKNOWN';
  }
}

/**
 * Opens a domain's serial console and resolves with the first line matching `pattern`, then
 * detaches. Rejects after `timeoutMs` or if the console fails.
 */
function awaitConsoleLine(cryo, name, pattern, { timeoutMs = 180_000, historyBytes = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const call = cryo.services.DomainService.openConsole();
    let partial = '';
    let done = false;
    const finish = (fn, value) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        call.cancel();
        fn(value);
      }
    };
    const timer = setTimeout(() => finish(reject, new Error(
      `no console line of ${name} matched ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    call.on('data', (msg) => {
      partial += Buffer.from(msg.data).toString('utf8');
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).replace(/\r/g, '');
        partial = partial.slice(nl + 1);
        const m = pattern.exec(line);
        if (m) {
          finish(resolve, m);
          return;
        }
      }
    });
    call.on('error', (err) => finish(reject, new CryoError(err)));
    call.on('end', () => finish(reject, new Error(`console of ${name} ended`)));
    // 0 asks for the server's default history; negative for none.
    call.write({ name, historyBytes: historyBytes === 0 ? -1 : historyBytes });
  });
}

module.exports = { connect, loadApi, awaitConsoleLine, CryoError, PROTO_ROOT };
