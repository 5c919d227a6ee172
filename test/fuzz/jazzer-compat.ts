// Jazzer.js 4.0.0 ships its libFuzzer addon prebuilt on a newer system than Debian 12's: the
// Linux x64 build asks for glibc 2.38 (__isoc23_strtol, __isoc23_strtoul: C23 strtol that also
// reads "0b" numbers) and libstdc++ GLIBCXX_3.4.32 (std::ios_base_library_init, a symbol GCC 13's
// <iostream> only references, never calls). Debian 12 has glibc 2.36 and GCC 12's libstdc++, so
// dlopen fails. This rewrites the addon's dynamic symbol table in place, once, so it loads here:
//   - the two strtol symbols take the names of their own suffixes (strtol, strtoul) at GLIBC_2.2.5;
//   - ios_base_library_init becomes a weak reference with no version (it resolves to nothing);
//   - the two version needs are marked weak (VER_FLG_WEAK), so ld.so does not insist on them.
// The original is kept beside it as <name>.orig. Nothing is done where the addon already loads.

import { existsSync, readFileSync, renameSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const VER_FLG_WEAK = 0x2;
const VER_NDX_GLOBAL = 1;
const STB_WEAK = 2;

interface Section {
  name: string;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

function sections(b: Buffer): Section[] {
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    raw.push({
      nameOff: b.readUInt32LE(h),
      offset: Number(b.readBigUInt64LE(h + 0x18)),
      size: Number(b.readBigUInt64LE(h + 0x20)),
      link: b.readUInt32LE(h + 0x28),
      entsize: Number(b.readBigUInt64LE(h + 0x38)),
    });
  }
  const strtab = raw[shstrndx].offset;
  return raw.map((s) => ({ name: cstr(b, strtab + s.nameOff), offset: s.offset, size: s.size, link: s.link, entsize: s.entsize }));
}

function cstr(b: Buffer, at: number): string {
  const end = b.indexOf(0, at);
  return b.toString('latin1', at, end);
}

/** Rewrites the addon image `b` in place; returns what it changed, one line each. */
export function patchAddon(b: Buffer): string[] {
  const secs = sections(b);
  const get = (n: string): Section => {
    const s = secs.find((x) => x.name === n);
    if (s === undefined) throw new Error(`no ${n} section`);
    return s;
  };
  const dynsym = get('.dynsym');
  const dynstr = get('.dynstr');
  const versym = get('.gnu.version');
  const verneed = get('.gnu.version_r');
  const changes: string[] = [];

  // version needs: which index is GLIBC_2.2.5 of libc, and mark the too-new ones weak
  const tooNew = new Set(['GLIBC_2.38', 'GLIBCXX_3.4.32']);
  const tooNewIdx = new Set<number>();
  let glibcBase = -1;
  let vn = verneed.offset;
  for (;;) {
    const cnt = b.readUInt16LE(vn + 2);
    const file = cstr(b, dynstr.offset + b.readUInt32LE(vn + 4));
    let aux = vn + b.readUInt32LE(vn + 8);
    for (let i = 0; i < cnt; i++) {
      const name = cstr(b, dynstr.offset + b.readUInt32LE(aux + 8));
      const other = b.readUInt16LE(aux + 6);
      if (file === 'libc.so.6' && name === 'GLIBC_2.2.5') glibcBase = other;
      if (tooNew.has(name)) {
        tooNewIdx.add(other);
        b.writeUInt16LE(b.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
        changes.push(`version need ${name} of ${file} marked weak`);
      }
      aux += b.readUInt32LE(aux + 12);
    }
    const next = b.readUInt32LE(vn + 12);
    if (next === 0) break;
    vn += next;
  }
  if (glibcBase < 0) throw new Error('no GLIBC_2.2.5 version need');

  const n = dynsym.size / dynsym.entsize;
  for (let i = 0; i < n; i++) {
    const s = dynsym.offset + i * dynsym.entsize;
    const vs = versym.offset + i * 2;
    if (!tooNewIdx.has(b.readUInt16LE(vs) & 0x7fff)) continue;
    const nameOff = b.readUInt32LE(s);
    const name = cstr(b, dynstr.offset + nameOff);
    if (name === '__isoc23_strtol' || name === '__isoc23_strtoul') {
      // the string table already holds "strtol"/"strtoul": the tail of the C23 name
      b.writeUInt32LE(nameOff + '__isoc23_'.length, s);
      b.writeUInt16LE(glibcBase, vs);
      changes.push(`${name} -> ${name.slice(9)}@GLIBC_2.2.5`);
    } else if (name === '_ZSt21ios_base_library_initv') {
      b[s + 4] = (STB_WEAK << 4) | (b[s + 4] & 0x0f);
      b.writeUInt16LE(VER_NDX_GLOBAL, vs);
      changes.push(`${name} -> weak, unversioned`);
    } else {
      throw new Error(`symbol ${name} needs a version this system lacks; no rewrite known for it`);
    }
  }
  return changes;
}

/** The path of the Jazzer.js addon for this platform. */
export function addonPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@jazzer.js/fuzzer/package.json');
  return join(dirname(pkg), 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
}

/** Makes the Jazzer.js addon loadable on this system (see the top of this file). Idempotent. */
export function ensureJazzerLoads(log: (line: string) => void = () => {}): void {
  const path = addonPath();
  const require = createRequire(import.meta.url);
  try {
    require(path);
    return;
  } catch (e) {
    const msg = (e as Error).message;
    if (!/version `(GLIBC_2\.38|GLIBCXX_3\.4\.32)' not found/.test(msg)) throw e;
  }
  const orig = `${path}.orig`;
  if (!existsSync(orig)) copyFileSync(path, orig);
  const b = readFileSync(orig);
  const changes = patchAddon(b);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, b);
  renameSync(tmp, path);
  for (const c of changes) log(`jazzer-compat: ${c}`);
}
