/**
 * A file whose pages are the memory of typed arrays: mmap(MAP_SHARED) regions of one file, each
 * an ArrayBuffer (koffi.view over the mapping). Stores land in the page cache at once, so they
 * survive the process (kill -9 included) but not the machine; on tmpfs (/run) that is the point.
 * Regions are mapped one at a time at page-aligned offsets, the file growing as they are added,
 * so the caller need not know the total size up front. Mappings live as long as the process.
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { mmap, SysError } from './libc.js';

const lib = koffi.load('libc.so.6');

const posixFallocate = lib.func('int posix_fallocate(int fd, int64_t offset, int64_t len)') as (fd: number, offset: number, len: number) => number;

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;
const MAP_FAILED = 0xffffffffffffffffn;
export const PAGE = 4096;

export const roundPage = (n: number): number => Math.ceil(n / PAGE) * PAGE;

export class MappedFile {
  private fd: number;
  /** bytes of the file so far (a multiple of the page size) */
  size = 0;

  /** Creates (or empties) the file at path, mode 0600. */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w+', 0o600);
  }

  /** A new zeroed region of `bytes` at the end of the file; its offset is the file size before. */
  map(bytes: number): { offset: number; buffer: ArrayBuffer } {
    const offset = this.size;
    const len = roundPage(Math.max(bytes, 1));
    ftruncateSync(this.fd, offset + len);
    // the pages are reserved now: on a full tmpfs a store into a sparse mapping would be SIGBUS later
    const err = posixFallocate(this.fd, offset, len);
    if (err !== 0) throw new SysError(`cannot reserve ${len} bytes of ${this.path}`, err);
    const ptr = mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, offset);
    const a = ptr === null ? MAP_FAILED : koffi.address(ptr);
    if (a === MAP_FAILED || a === 0n) throw new SysError(`cannot map ${len} bytes of ${this.path}`, koffi.errno());
    this.size = offset + len;
    return { offset, buffer: koffi.view(ptr, len) as ArrayBuffer };
  }

  /** Closes the descriptor; the mappings stay. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
