// The tables' entry columns in a file that outlives the daemon (live-state.ts says what is
// adopted and how). This process always writes a new file, `<path>.new`, whose regions are the
// columns themselves (mapped-file.ts); at start the previous file at `<path>` is read, checked
// (header first, then every entry) and copied in, and the new file then takes its name by
// rename(2), so a start that dies half-way leaves the previous file as it was. A file that cannot
// be trusted is renamed aside (`<path>.bad-<time>`, the newest two kept) and the tables start empty.
//
// Header (first page, little-endian):
//    0 u32 magic "PTLS"        4 u32 format version    8 u32 layout hash     12 u32 columns
//   16 f64 file size          24 u32 conntrack max   28 u32 NAT port min   32 u32 NAT port max
//   36 u32 writer's pid       40 f64 generation      48 f64 wall-clock ms at the writer's clock 0
//   56 u32 crc32 of [0,56) and of the column table
//   64 f64 heartbeat (wall-clock ms, written every tick; not in the checksum)
//   72 column table: per column u32 type code, u32 length, f64 file offset

import { readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { type AdoptionReport, adoptTables } from '../dataplane/live-state.js';
import type { Tables } from '../dataplane/tables.js';
import { type ColumnSpec, type ColumnType, TableMemory, columnBytes } from '../dataplane/table-memory.js';
import { MappedFile, PAGE } from './sys/mapped-file.js';

export const LIVE_STATE_MAGIC = 0x534c5450; // "PTLS"
export const LIVE_STATE_VERSION = 1;
const CHECKED_END = 56;
const CHECKSUM = 56;
const HEARTBEAT = 64;
const COLUMNS = 72;
const COLUMN_BYTES = 16;
const TYPE_CODE: Record<ColumnType, number> = { u8: 1, u16: 2, i32: 3, u32: 4, f64: 5, i16: 6 };

/** What the tables are sized by: a file of other sizes is not adopted. */
export interface LiveStateCapacity {
  conntrackMax: number;
  natPortMin: number;
  natPortMax: number;
}

export interface LiveStateReport extends AdoptionReport {
  path: string;
  /** adopted: the previous file's entries are this process's; fresh: there was none; set-aside: it could not be trusted */
  outcome: 'adopted' | 'fresh' | 'set-aside';
  /** why the file was set aside, and where it went */
  reason: string | null;
  movedTo: string | null;
  previousPid: number;
  /** the previous writer's last heartbeat (wall-clock ms), 0 when nothing was adopted */
  previousHeartbeat: number;
  /** adoptions so far of this file's line (1: a fresh file) */
  generation: number;
  /** time spent reading, checking and adopting the previous file */
  adoptMs: number;
}

/** What the worker reports: the adoption, or why no file could be used (the tables are then in memory only). */
export type LiveStateStatus = LiveStateReport | { outcome: 'unavailable'; path: string; reason: string };

/** Columns as regions of one mapped file, each at a page-aligned offset after the header page. */
class FileMemory extends TableMemory {
  readonly offsets: number[] = [];

  constructor(readonly file: MappedFile) {
    super();
  }

  protected bytes(spec: ColumnSpec): ArrayBuffer {
    const region = this.file.map(columnBytes(spec.type, spec.length));
    this.offsets.push(region.offset);
    return region.buffer;
  }
}

export class LiveStateFile {
  readonly memory: TableMemory;
  private readonly file: MappedFile;
  private readonly fileMemory: FileMemory;
  private readonly header: DataView;
  private readonly heartbeat: Float64Array;

  /** Opens `<path>.new` for this process's tables; pass `memory` to the tables, then call adopt(). */
  constructor(
    readonly path: string,
    private readonly capacity: LiveStateCapacity,
  ) {
    this.file = new MappedFile(`${path}.new`);
    const head = this.file.map(PAGE).buffer;
    this.header = new DataView(head);
    this.heartbeat = new Float64Array(head, HEARTBEAT, 1);
    this.fileMemory = new FileMemory(this.file);
    this.memory = this.fileMemory;
  }

  /**
   * Adopts the previous file's entries into `tables` (built on this.memory), then makes this
   * process's file the one at `path`. `now` is the data plane's clock; `wallBase` the wall-clock
   * time at its 0. Never throws for a bad file: it is set aside and the tables stay empty.
   */
  adopt(tables: Tables, now: number, wallBase: number): LiveStateReport {
    const started = performance.now();
    const cols = this.fileMemory.columns;
    if (cols.length * COLUMN_BYTES + COLUMNS > PAGE) throw new Error(`live state: ${cols.length} columns do not fit the header page`);
    const report: LiveStateReport = {
      path: this.path,
      outcome: 'fresh',
      reason: null,
      movedTo: null,
      flows: 0,
      mappings: 0,
      published: 0,
      expired: 0,
      dropped: 0,
      previousPid: 0,
      previousHeartbeat: 0,
      generation: 1,
      adoptMs: 0,
    };
    let old: Buffer | null = null;
    try {
      old = readFileSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') report.reason = `cannot read it: ${(err as Error).message}`;
    }
    if (old !== null) report.reason = this.problem(old);
    if (old !== null && report.reason === null) {
      const h = new DataView(old.buffer, old.byteOffset, old.byteLength);
      for (let i = 0; i < cols.length; i++) {
        const c = cols[i];
        const n = columnBytes(c.spec.type, c.spec.length);
        const at = h.getFloat64(COLUMNS + i * COLUMN_BYTES + 8, true);
        new Uint8Array(c.array.buffer, c.array.byteOffset, n).set(old.subarray(at, at + n));
      }
      const shift = h.getFloat64(48, true) - wallBase;
      const r = adoptTables(tables, shift, now);
      const found = r.flows + r.published + r.dropped;
      if (r.dropped > 8 && r.dropped * 2 > found) {
        report.reason = `${r.dropped} of ${found} entries do not validate`;
        for (const c of cols) c.array.fill(0);
        adoptTables(tables, 0, now);
      } else {
        Object.assign(report, r);
        report.outcome = 'adopted';
        report.previousPid = h.getUint32(36, true);
        report.previousHeartbeat = h.getFloat64(HEARTBEAT, true);
        report.generation = h.getFloat64(40, true) + 1;
      }
    }
    if (report.reason !== null) {
      report.outcome = 'set-aside';
      report.movedTo = `${this.path}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        renameSync(this.path, report.movedTo);
        pruneSetAside(this.path);
      } catch {
        report.movedTo = null; // unreadable or gone: the rename below replaces it
      }
    }
    this.writeHeader(report.generation, wallBase);
    this.file.close();
    renameSync(`${this.path}.new`, this.path);
    report.adoptMs = performance.now() - started;
    return report;
  }

  /** Wall-clock time of this tick, for the next process to measure its gap from. */
  beat(): void {
    this.heartbeat[0] = Date.now();
  }

  /** Why a previous file cannot be adopted, or null. */
  private problem(old: Buffer): string | null {
    if (old.length < PAGE) return `truncated (${old.length} bytes)`;
    const h = new DataView(old.buffer, old.byteOffset, old.byteLength);
    if (h.getUint32(0, true) !== LIVE_STATE_MAGIC) return 'not a pontoon live-state file (magic)';
    const version = h.getUint32(4, true);
    if (version !== LIVE_STATE_VERSION) return `format version ${version}, this daemon reads ${LIVE_STATE_VERSION}`;
    const count = h.getUint32(12, true);
    if (count * COLUMN_BYTES + COLUMNS > PAGE) return 'header checksum mismatch';
    if (h.getUint32(CHECKSUM, true) !== checksum(old, count)) return 'header checksum mismatch';
    const c = this.capacity;
    const ct = h.getUint32(24, true);
    if (ct !== c.conntrackMax) return `conntrack.max ${ct}, configured ${c.conntrackMax}`;
    const pMin = h.getUint32(28, true);
    const pMax = h.getUint32(32, true);
    if (pMin !== c.natPortMin || pMax !== c.natPortMax) return `NAT port range ${pMin}-${pMax}, configured ${c.natPortMin}-${c.natPortMax}`;
    const cols = this.fileMemory.columns;
    if (h.getUint32(8, true) !== this.fileMemory.layoutHash() || count !== cols.length) return 'table layout differs (written by another pontoon version)';
    const size = h.getFloat64(16, true);
    if (size !== old.length) return `size ${old.length} bytes, header says ${size} (torn write)`;
    for (let i = 0; i < count; i++) {
      const at = h.getFloat64(COLUMNS + i * COLUMN_BYTES + 8, true);
      if (!Number.isInteger(at) || at < PAGE || at + columnBytes(cols[i].spec.type, cols[i].spec.length) > old.length) return 'column table out of bounds';
    }
    return null;
  }

  private writeHeader(generation: number, wallBase: number): void {
    const h = this.header;
    const cols = this.fileMemory.columns;
    h.setUint32(0, LIVE_STATE_MAGIC, true);
    h.setUint32(4, LIVE_STATE_VERSION, true);
    h.setUint32(8, this.fileMemory.layoutHash(), true);
    h.setUint32(12, cols.length, true);
    h.setFloat64(16, this.file.size, true);
    h.setUint32(24, this.capacity.conntrackMax, true);
    h.setUint32(28, this.capacity.natPortMin, true);
    h.setUint32(32, this.capacity.natPortMax, true);
    h.setUint32(36, process.pid, true);
    h.setFloat64(40, generation, true);
    h.setFloat64(48, wallBase, true);
    for (let i = 0; i < cols.length; i++) {
      const at = COLUMNS + i * COLUMN_BYTES;
      h.setUint32(at, TYPE_CODE[cols[i].spec.type], true);
      h.setUint32(at + 4, cols[i].spec.length, true);
      h.setFloat64(at + 8, this.fileMemory.offsets[i], true);
    }
    this.beat();
    h.setUint32(CHECKSUM, checksum(new Uint8Array(h.buffer, 0, PAGE), cols.length), true);
  }
}

/** Files set aside are kept for a look, but only the newest few: they are as big as the tables, on tmpfs. */
const SET_ASIDE_KEPT = 2;

function pruneSetAside(path: string): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.bad-`;
  const aside = readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .sort(); // ISO times sort by age
  for (const f of aside.slice(0, -SET_ASIDE_KEPT)) rmSync(join(dir, f), { force: true });
}

/** crc32 of the header's fixed fields and its column table. */
function checksum(page: Uint8Array, columns: number): number {
  const fixed = crc32(page.subarray(0, CHECKED_END));
  return crc32(page.subarray(COLUMNS, COLUMNS + columns * COLUMN_BYTES), fixed) >>> 0;
}
