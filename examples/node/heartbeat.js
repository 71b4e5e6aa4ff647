'use strict';
// The polyglot proof: lists domains, defines and starts the test guest, reads its serial
// console until a heartbeat, then destroys and undefines it. Prints progress, then one JSON
// summary line (the conformance kit parses it).
//
//   node heartbeat.js --target 127.0.0.1:7600 --kernel vmlinuz --initrd initramfs.img

const crypto = require('node:crypto');
const { parseArgs } = require('node:util');
const { connect, awaitConsoleLine } = require('./cryo');

const { values: opts } = parseArgs({
  options: {
    target: { type: 'string', default: process.env.CRYO_TARGET || '127.0.0.1:7600' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    name: { type: 'string', default: `node-${process.pid}` },
  },
});
if (!opts.kernel || !opts.initrd) {
  console.error('usage: node heartbeat.js [--target HOST:PORT] --kernel PATH --initrd PATH');
  process.exit(2);
}

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
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <devices>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>
`;
}

async function main() {
  const cryo = connect(opts.target);
  const name = opts.name;
  let defined = false;
  try {
    const { domains } = await cryo.unary('DomainService', 'listDomains', {});
    console.log(`domains on ${opts.target}: ${domains.map((d) => `${d.name} (${d.state})`)
      .join(', ') || 'none'}`);

    const def = await cryo.unary('DomainService', 'defineDomain', { xml: guestXml(name) });
    defined = true;
    console.log(`defined ${def.domain.name} (${def.domain.uuid})`);

    const started = await cryo.unary('DomainService', 'startDomain', { name });
    console.log(`started ${name}: ${started.domain.state}, pid ${started.domain.pid}, `
      + `${started.domain.accelerator}`);

    const beat = await awaitConsoleLine(cryo, name, /COUNTER (\d+) boot=(\S+)/);
    console.log(`heartbeat: ${beat[0]}`);

    const destroyed = await cryo.unary('DomainService', 'destroyDomain', { name });
    console.log(`destroyed ${name}: ${destroyed.domain.state} (${destroyed.domain.reason})`);
    await cryo.unary('DomainService', 'undefineDomain', { name });
    defined = false;
    console.log(`undefined ${name}`);

    console.log(JSON.stringify({
      listed: domains.length,
      domain: name,
      pid: Number(started.domain.pid),
      accelerator: started.domain.accelerator,
      heartbeat: beat[0],
      counter: Number(beat[1]),
      boot: beat[2],
      finalState: destroyed.domain.state,
    }));
  } finally {
    if (defined) {
      // Leave nothing behind after a failure.
      await cryo.unary('DomainService', 'destroyDomain', { name }).catch(() => {});
      await cryo.unary('DomainService', 'undefineDomain', { name }).catch(() => {});
    }
    cryo.close();
  }
}

main().catch((err) => {
  console.error(`heartbeat.js: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
});
