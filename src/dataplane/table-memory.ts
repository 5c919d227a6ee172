// Where a table's persistent columns live. A table asks its allocator for each entry column in
// declaration order (u8/u16/i16/i32/u32/f64 of a length); the heap allocator gives plain typed arrays,
// a file-backed one (src/ports/live-state-file.ts) gives views over a shared mapping that outlives
// the process. The allocator records what it handed out, so the list of columns (type and length,
// in order) is the layout, and its hash tells a file of this layout from any other: a new column
// needs nothing but its allocation line. Derived state (indexes, free lists, counts) is not asked
// for here: it is rebuilt from the entries at adoption.

export type ColumnType = 'u8' | 'u16' | 'i16' | 'i32' | 'u32' | 'f64';

export type Column = Uint8Array | Uint16Array | Int16Array | Int32Array | Uint32Array | Float64Array;

const BYTES: Record<ColumnType, number> = { u8: 1, u16: 2, i16: 2, i32: 4, u32: 4, f64: 8 };

export function columnBytes(type: ColumnType, length: number): number {
  return BYTES[type] * length;
}

export interface ColumnSpec {
  type: ColumnType;
  length: number;
}

export abstract class TableMemory {
  /** every column handed out, in order: the layout */
  readonly columns: { spec: ColumnSpec; array: Column }[] = [];

  /** The zeroed bytes of one column. */
  protected abstract bytes(spec: ColumnSpec): ArrayBuffer;

  u8(length: number): Uint8Array {
    return this.take('u8', length, (b) => new Uint8Array(b, 0, length));
  }

  u16(length: number): Uint16Array {
    return this.take('u16', length, (b) => new Uint16Array(b, 0, length));
  }

  i16(length: number): Int16Array {
    return this.take('i16', length, (b) => new Int16Array(b, 0, length));
  }

  i32(length: number): Int32Array {
    return this.take('i32', length, (b) => new Int32Array(b, 0, length));
  }

  u32(length: number): Uint32Array {
    return this.take('u32', length, (b) => new Uint32Array(b, 0, length));
  }

  f64(length: number): Float64Array {
    return this.take('f64', length, (b) => new Float64Array(b, 0, length));
  }

  private take<T extends Column>(type: ColumnType, length: number, view: (b: ArrayBuffer) => T): T {
    const spec = { type, length };
    const array = view(this.bytes(spec));
    this.columns.push({ spec, array });
    return array;
  }

  /** FNV-1a over "type:length;" of every column in order. */
  layoutHash(): number {
    let h = 0x811c9dc5;
    for (const { spec } of this.columns) {
      const s = `${spec.type}:${spec.length};`;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    }
    return h >>> 0;
  }
}

/** Columns in the process's own memory: the default, and everything a test needs. */
export class HeapMemory extends TableMemory {
  protected bytes(spec: ColumnSpec): ArrayBuffer {
    return new ArrayBuffer(columnBytes(spec.type, spec.length));
  }
}
