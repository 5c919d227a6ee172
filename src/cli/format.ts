// Output helpers that make pontoon print like the docker CLI.

// docker formats tables with text/tabwriter.NewWriter(out, 10, 1, 3, ' ', 0): every column but the
// last is at least 10 wide and 3 wider than its widest cell.
const MIN_WIDTH = 10;
const PADDING = 3;

/** A docker-style table: header line, then one line per row, each ending with a newline. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) =>
    Math.max(MIN_WIDTH, rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length) + PADDING),
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('') + '\n';
  return line(headers) + rows.map(line).join('');
}

/** The 12-character form of a 64-hex-digit id, as docker prints it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** "3d 4h 5m 6s", leaving out leading zero units ("42s", "5m 0s"). */
export function formatDuration(totalSeconds: number): string {
  let s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts: string[] = [];
  if (d > 0) parts.push(`${d}d`);
  if (d > 0 || h > 0) parts.push(`${h}h`);
  if (d > 0 || h > 0 || m > 0) parts.push(`${m}m`);
  parts.push(`${s}s`);
  return parts.join(' ');
}

/** docker's `inspect` output: a JSON array indented by 4 spaces. */
export function formatInspect(items: unknown[]): string {
  return JSON.stringify(items, null, 4) + '\n';
}
