/**
 * The root filesystem of the test containers, made without a registry: busybox-static and its
 * applets (sh, ping, nslookup, httpd, nc, ip, ...), a passwd and a group file. Docker and Podman
 * import the tarball (`docker import`, `podman import`) as an image of the test's own name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

/** Writes `<dir>/rootfs.tar` (a busybox root filesystem) and returns its path. */
export function busyboxRootfsTar(dir: string): string {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'www']) mkdirSync(join(root, d), { recursive: true });
  execFileSync('cp', [BUSYBOX, join(root, 'bin', 'busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'www', 'index.html'), 'hello from a container\n');
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', root, '-cf', tar, '.']);
  return tar;
}
