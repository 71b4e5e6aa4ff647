'use strict';
// Save and restore from Node.js, built only from proto/: boots the test guest, saves it as a
// stream into a local file (SaveDomain, flow-controlled: the stream pauses while the file's
// write buffer is full), restores it from that file (RestoreDomain, writes honour back-pressure,
// then the save's digest as trailer) and checks the guest carries on: same boot id, heartbeat
// counter continues. Prints progress, then one JSON summary line (the conformance kit parses it).
//
//   node save-restore.js --target 127.0.0.1:7600 --kernel vmlinuz --initrd initramfs.img

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { connect, awaitConsoleLine, CryoError } = require('./cryo');

const { values: opts } = parseArgs({
  options: {
    target: { type: 'string', default: process.env.CRYO_TARGET || '127.0.0.1:7600' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    name: { type: 'string', default: `node-save-${process.pid}` },
    file: { type: 'string' },
  },
});
if (!opts.kernel || !opts.initrd) {
  console.error('usage: node save-restore.js [--target HOST:PORT] --kernel PATH --initrd PATH '
    + '[--file IMAGE]');
  process.exit(2);
}
const COUNTER = /COUNTER (\d+) boot=(\S+)/;
const CHUNK_BYTES = 1 << 20;

function xmlText(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

function guestXml(name) {
  return `<domain type='kvm'>
  <name>${xmlText(name)}</name>
  <uuid>${crypto.randomUUID()}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${xmlText(opts.kernel)}</kernel>
    <initrd>${xmlText(opts.initrd)}</initrd>
    <cmdline>console=ttyS0 quiet no_timer_check cryo.fill=8</cmdline>
  </os>
  <devices>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>
`;
}

/**
 * SaveDomain with the image streamed into `file`: resolves with the summary once the image is
 * durable. The gRPC stream is paused while the file cannot take more (grpc-js then stops
 * reading from the connection, and HTTP/2 flow control holds the server back).
 */
function saveToFile(cryo, name, file) {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(file, { flags: 'wx' });
    const call = cryo.services.ImageService.saveDomain({ name, stream: true,
      compression: 'COMPRESSION_ZSTD', after: 'AFTER_SAVE_STOP' });
    let summary = null;
    let failed = false;
    const fail = (err) => {
      if (!failed) {
        failed = true;
        call.cancel();
        out.destroy();
        fs.rm(file, { force: true }, () => reject(err));
      }
    };
    call.on('data', (msg) => {
      if (msg.chunk && msg.chunk.length > 0) {
        if (!out.write(msg.chunk)) {
          call.pause();
          out.once('drain', () => call.resume());
        }
      } else if (msg.summary) {
        summary = msg.summary;
      }
    });
    call.on('error', (err) => fail(new CryoError(err)));
    call.on('end', () => {
      if (failed) {
        return;
      }
      if (!summary) {
        fail(new Error('the save ended without a summary'));
        return;
      }
      out.end(() => {
        // Durable before we rely on it: the guest is gone from the server now.
        fs.open(file, 'r', (err, fd) => {
          if (err) {
            reject(err);
            return;
          }
          fs.fsync(fd, () => fs.close(fd, () => resolve(summary)));
        });
      });
    });
    out.on('error', (err) => fail(err));
  });
}

/** RestoreDomain from a local file, honouring back-pressure; resolves with the response. */
function restoreFromFile(cryo, file, trailer) {
  return new Promise((resolve, reject) => {
    const call = cryo.services.ImageService.restoreDomain((err, response) => {
      if (err) {
        reject(new CryoError(err));
      } else {
        resolve(response);
      }
    });
    call.write({ options: { stream: true } });
    const input = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES });
    input.on('data', (chunk) => {
      if (!call.write({ chunk })) {
        input.pause();
        call.once('drain', () => input.resume());
      }
    });
    input.on('end', () => {
      call.write({ trailer });
      call.end();
    });
    input.on('error', (err) => {
      call.cancel();
      reject(err);
    });
  });
}

async function main() {
  const cryo = connect(opts.target, { deadlineMs: 300_000 });
  const name = opts.name;
  const dir = opts.file ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'cryo-node-'));
  const file = opts.file || path.join(dir, `${name}.save`);
  let defined = false;
  try {
    await cryo.unary('DomainService', 'defineDomain', { xml: guestXml(name) });
    defined = true;
    await cryo.unary('DomainService', 'startDomain', { name });
    console.log(`started ${name}`);
    await awaitConsoleLine(cryo, name, /CRYO FILLED/, { timeoutMs: 240_000 });
    const before = await awaitConsoleLine(cryo, name, COUNTER);
    console.log(`before save: ${before[0]}`);

    const summary = await saveToFile(cryo, name, file);
    const size = fs.statSync(file).size;
    console.log(`saved ${name} to ${file}: ${size} bytes, sha256 ${summary.sha256}, `
      + `state ${summary.domain.state}`);

    const restored = await restoreFromFile(cryo, file, { sha256: summary.sha256,
      payloadBytes: summary.payloadBytes });
    console.log(`restored ${name}: ${restored.domain.state} (${restored.domain.reason}), `
      + `verified ${restored.verified}`);

    const after = await awaitConsoleLine(cryo, name, COUNTER);
    console.log(`after restore: ${after[0]}`);

    await cryo.unary('DomainService', 'destroyDomain', { name });
    await cryo.unary('DomainService', 'undefineDomain', { name });
    defined = false;
    console.log(JSON.stringify({
      domain: name,
      imageBytes: size,
      summaryImageBytes: Number(summary.imageBytes),
      savedState: summary.domain.state,
      restoredState: restored.domain.state,
      verified: restored.verified,
      bootBefore: before[2],
      counterBefore: Number(before[1]),
      bootAfter: after[2],
      counterAfter: Number(after[1]),
    }));
  } finally {
    if (defined) {
      await cryo.unary('DomainService', 'destroyDomain', { name }).catch(() => {});
      await cryo.unary('DomainService', 'undefineDomain', { name }).catch(() => {});
    }
    if (dir) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    cryo.close();
  }
}

main().catch((err) => {
  console.error(`save-restore.js: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
});
